//! Loading, error reporting and validation through the public API.

use std::path::Path;

use wasmgate_config::{
    ConfigError, ConfigErrors, Duration, DynamicConfig, Format, Middleware, Service, check,
    load_dynamic, load_dynamic_dir, load_static, parse_dynamic, parse_static, validate,
};

fn dynamic_errors(text: &str, format: Format) -> Vec<ConfigError> {
    match parse_dynamic(text, format, "dynamic.yml") {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0,
    }
}

fn find<'a>(errors: &'a [ConfigError], key_path: &str) -> &'a ConfigError {
    errors
        .iter()
        .find(|e| e.key_path == key_path)
        .unwrap_or_else(|| panic!("no error at {key_path}: {}", ConfigErrors(errors.to_vec())))
}

const ROUTED: &str = "\
http:
  routers:
    api:
      rule: \"Host(`example.com`)\"
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8080
";

#[test]
fn typo_gets_a_suggestion_and_a_position() {
    let text = ROUTED.replace("      rule:", "      rulle:");
    let errors = dynamic_errors(&text, Format::Yaml);
    let e = find(&errors, "http.routers.api.rulle");
    assert_eq!((e.line, e.column), (Some(4), Some(7)));
    assert_eq!(e.suggestion.as_deref(), Some("rule"));
    assert_eq!(
        e.to_string(),
        "dynamic.yml:4:7: http.routers.api.rulle: unknown key; did you mean `rule`?"
    );
    // The misspelt rule is reported once, not again as a missing rule.
    assert_eq!(errors.len(), 1, "{}", ConfigErrors(errors.clone()));
}

#[test]
fn yaml_type_error_has_line_and_column() {
    let text = ROUTED.replace("service: app", "service: app\n      priority: high");
    let errors = dynamic_errors(&text, Format::Yaml);
    let e = find(&errors, "http.routers.api.priority");
    assert_eq!(e.line, Some(6));
    assert_eq!(e.column, Some(7));
    assert!(e.message.contains("expected an integer"), "{e}");
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let errors = dynamic_errors(
        "http:\n  routers:\n    api:\n      rule: \"unterminated\n",
        Format::Yaml,
    );
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.starts_with("invalid YAML"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].line.is_some() && errors[0].column.is_some(),
        "{}",
        errors[0]
    );
}

#[test]
fn toml_errors_have_line_and_column() {
    let text = "[http.routers.api]\nrule = \"Host(`a`)\"\nservce = \"app\"\n";
    let errors = dynamic_errors(text, Format::Toml);
    let e = find(&errors, "http.routers.api.servce");
    assert_eq!((e.line, e.column), (Some(3), Some(1)));
    assert_eq!(e.suggestion.as_deref(), Some("service"));

    let errors = dynamic_errors("[http.routers.api]\nrule = \n", Format::Toml);
    assert!(
        errors[0].message.starts_with("invalid TOML"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0].line, Some(2), "{}", errors[0]);
}

#[test]
fn unsupported_keys_are_named() {
    let text = ROUTED.replace("service: app", "service: app\n      parentRefs: [x]");
    let errors = dynamic_errors(&text, Format::Yaml);
    let e = find(&errors, "http.routers.api.parentRefs");
    assert!(e.is_unsupported());
    assert_eq!(
        e.message,
        "unsupported Traefik feature: `http.routers.api.parentRefs`"
    );
    assert_eq!(e.line, Some(6));

    let text = "http:\n  middlewares:\n    x:\n      digestAuth:\n        users: [\"a:b:c\"]\n";
    let errors = dynamic_errors(text, Format::Yaml);
    assert_eq!(
        errors[0].message,
        "unsupported Traefik feature: middleware type `digestAuth` (http.middlewares.x.digestAuth)"
    );
    assert_eq!(errors[0].line, Some(4));

    let errors = parse_static(
        "entryPoints:\n  web:\n    address: \":80\"\napi:\n  dashboard: true\nproviders:\n  docker: {}\n",
        Format::Yaml,
        "traefik.yml",
    )
    .unwrap_err()
    .0;
    let paths: Vec<&str> = errors.iter().map(|e| e.key_path.as_str()).collect();
    assert_eq!(paths, ["api", "providers.docker"]);
    assert!(errors.iter().all(ConfigError::is_unsupported));
    assert_eq!(
        errors[0].to_string(),
        "traefik.yml:4:1: api: unsupported Traefik feature: `api`"
    );
}

#[test]
fn missing_service_is_located() {
    let text = ROUTED.replace("service: app", "service: ap");
    let errors = dynamic_errors(&text, Format::Yaml);
    let e = find(&errors, "http.routers.api.service");
    assert_eq!(e.line, Some(5));
    assert_eq!(e.message, "unknown service `ap`");
    assert_eq!(e.suggestion.as_deref(), Some("app"));
}

#[test]
fn every_error_is_reported() {
    let text = "\
http:
  routers:
    a:
      rule: \"Path(`/`)\"
      service: nope
      middlewares: [gone]
    b:
      rulle: x
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: ftp://x
          - url: http://ok
            weight: -1
    loop1:
      weighted:
        services: [{name: loop2}]
    loop2:
      weighted:
        services: [{name: loop1}]
  middlewares:
    re:
      replacePathRegex:
        regex: \"(\"
        replacement: x
";
    let errors = dynamic_errors(text, Format::Yaml);
    for path in [
        "http.routers.a.service",
        "http.routers.a.middlewares[0]",
        "http.routers.b.rulle",
        "http.services.app.loadBalancer.servers[0].url",
        "http.services.app.loadBalancer.servers[1].weight",
        "http.services.loop1.weighted",
        "http.middlewares.re.replacePathRegex.regex",
    ] {
        let e = find(&errors, path);
        assert!(e.line.is_some(), "{e}");
    }
    // Sorted by position.
    let lines: Vec<usize> = errors.iter().filter_map(|e| e.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn yaml_and_toml_give_the_same_configuration() {
    let yaml = "\
http:
  routers:
    api:
      entryPoints: [web]
      rule: \"Host(`example.com`) && PathPrefix(`/api`)\"
      priority: 10
      middlewares: [strip]
      service: app
      tls: {}
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8080
            weight: 2
        passHostHeader: false
        responseForwarding:
          flushInterval: -1s
        healthCheck:
          path: /health
          interval: 10
  middlewares:
    strip:
      stripPrefix:
        prefixes: [/api]
    limit:
      rateLimit:
        average: 100
        period: 1m
        burst: 50
tls:
  certificates:
    - certFile: a.crt
      keyFile: a.key
";
    let toml = r#"
[http.routers.api]
entryPoints = ["web"]
rule = "Host(`example.com`) && PathPrefix(`/api`)"
priority = 10
middlewares = ["strip"]
service = "app"
[http.routers.api.tls]

[http.services.app.loadBalancer]
passHostHeader = false
[[http.services.app.loadBalancer.servers]]
url = "http://127.0.0.1:8080"
weight = 2
[http.services.app.loadBalancer.responseForwarding]
flushInterval = "-1s"
[http.services.app.loadBalancer.healthCheck]
path = "/health"
interval = 10

[http.middlewares.strip.stripPrefix]
prefixes = ["/api"]
[http.middlewares.limit.rateLimit]
average = 100
period = "1m"
burst = 50

[[tls.certificates]]
certFile = "a.crt"
keyFile = "a.key"
"#;
    let from_yaml = parse_dynamic(yaml, Format::Yaml, "d.yml").unwrap();
    let from_toml = parse_dynamic(toml, Format::Toml, "d.toml").unwrap();
    assert_eq!(from_yaml, from_toml);
    let Service::LoadBalancer(lb) = &from_yaml.http.services["app"] else {
        panic!("not a load balancer")
    };
    assert!(!lb.pass_host_header);
    assert_eq!(
        lb.response_forwarding.flush_interval,
        Duration::from_secs(-1)
    );
    assert_eq!(
        lb.health_check.as_ref().unwrap().interval,
        Duration::from_secs(10)
    );
    assert!(from_yaml.http.routers["api"].tls.is_some());
    let Middleware::RateLimit(rl) = &from_yaml.http.middlewares["limit"] else {
        panic!("not a rate limit")
    };
    assert_eq!(rl.period, Duration::from_secs(60));
}

#[test]
fn defaults_follow_traefik() {
    let c = parse_dynamic(ROUTED, Format::Yaml, "d.yml").unwrap();
    let Service::LoadBalancer(lb) = &c.http.services["app"] else {
        panic!()
    };
    assert!(lb.pass_host_header);
    assert_eq!(
        lb.response_forwarding.flush_interval,
        Duration::from_millis(100)
    );
    let s = parse_static(
        "entryPoints:\n  web:\n    address: \":80\"\nproviders:\n  file:\n    directory: /etc/dyn\n",
        Format::Yaml,
        "s.yml",
    )
    .unwrap();
    let web = &s.entry_points["web"];
    let t = &web.transport;
    assert_eq!(t.responding_timeouts.read_timeout, Duration::from_secs(60));
    assert_eq!(t.responding_timeouts.write_timeout, Duration::ZERO);
    assert_eq!(t.responding_timeouts.idle_timeout, Duration::from_secs(180));
    assert_eq!(t.life_cycle.grace_time_out, Duration::from_secs(10));
    assert_eq!(
        s.providers.providers_throttle_duration,
        Duration::from_secs(2)
    );
    assert!(s.providers.file.as_ref().unwrap().watch);
    assert_eq!(web.listen_address().unwrap().port, 80);
}

#[test]
fn empty_files_are_empty_configurations() {
    assert_eq!(
        parse_dynamic("", Format::Yaml, "e.yml").unwrap(),
        DynamicConfig::default()
    );
    assert_eq!(
        parse_dynamic("# nothing\n", Format::Yaml, "e.yml").unwrap(),
        DynamicConfig::default()
    );
    assert_eq!(
        parse_dynamic("", Format::Toml, "e.toml").unwrap(),
        DynamicConfig::default()
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn directory_merge_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yml", ROUTED);
    write(
        dir.path(),
        "b.toml",
        "[http.routers.web]\nrule = \"Path(`/`)\"\nservice = \"app\"\n",
    );
    write(dir.path(), "notes.txt", "ignored");
    let merged = load_dynamic_dir(dir.path()).unwrap();
    assert_eq!(merged.http.routers.len(), 2);

    write(
        dir.path(),
        "c.yml",
        "http:\n  routers:\n    api:\n      rule: \"Path(`/x`)\"\n      service: app\n",
    );
    let errors = load_dynamic_dir(dir.path()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{}", ConfigErrors(errors.clone()));
    let e = &errors[0];
    assert_eq!(e.key_path, "http.routers.api");
    assert!(e.file.as_ref().unwrap().ends_with("c.yml"));
    assert_eq!(e.line, Some(3));
    assert!(
        e.message.contains("a.yml:3") && e.message.contains("c.yml"),
        "{e}"
    );
}

#[test]
fn errors_across_files_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        &ROUTED.replace("service: app", "service: nope"),
    );
    write(
        dir.path(),
        "b.yml",
        "http:\n  routers:\n    b:\n      rule: \"Path(`/`)\"\n      service: app\n      prority: 1\n",
    );
    write(dir.path(), "c.yml", "http: [\n");
    let errors = load_dynamic_dir(dir.path()).unwrap_err().0;
    let files: Vec<String> = errors
        .iter()
        .map(|e| {
            e.file
                .as_ref()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // The syntax error in c.yml means references cannot be checked, but b.yml's typo and
    // c.yml's syntax error are both reported.
    assert!(files.contains(&"b.yml".to_string()), "{files:?}");
    assert!(files.contains(&"c.yml".to_string()), "{files:?}");
}

#[test]
fn load_and_check_files() {
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dir.path().join("dynamic.yml");
    write(
        dir.path(),
        "dynamic.yml",
        &ROUTED.replace(
            "service: app",
            "service: app\n      entryPoints: [websecure]",
        ),
    );
    let static_path = dir.path().join("traefik.yml");
    write(
        dir.path(),
        "traefik.yml",
        &format!(
            "entryPoints:\n  web:\n    address: \":80\"\nproviders:\n  file:\n    filename: {}\n",
            dynamic.display()
        ),
    );
    assert!(load_dynamic(&dynamic).is_ok());
    let s = load_static(&static_path).unwrap();
    let errors = check(Some(&static_path), None).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{}", ConfigErrors(errors.clone()));
    assert_eq!(errors[0].key_path, "http.routers.api.entryPoints[0]");
    assert_eq!(errors[0].suggestion, None);
    assert!(
        errors[0]
            .message
            .contains("unknown entry point `websecure`")
    );
    assert_eq!(errors[0].line, Some(6));
    assert_eq!(
        validate(Some(&s), &load_dynamic(&dynamic).unwrap()).len(),
        1
    );

    let unknown = dir.path().join("config.json");
    write(dir.path(), "config.json", "{}");
    let e = load_dynamic(&unknown).unwrap_err();
    assert!(e.to_string().contains(".yml, .yaml or .toml"), "{e}");
}

#[test]
fn traefik_leniency() {
    let text = "\
HTTP:
  routers:
    api:
      Rule: \"Path(`/`)\"
      service: app
      entryPoints: web
  services:
    app:
      loadbalancer:
        servers: {}
        healthcheck:
          path: /health
  middlewares:
    https:
      redirectScheme:
        scheme: https
        port: 443
        permanent: \"true\"
";
    let c = parse_dynamic(text, Format::Yaml, "d.yml").unwrap();
    assert_eq!(c.http.routers["api"].entry_points, ["web"]);
    let Middleware::RedirectScheme(r) = &c.http.middlewares["https"] else {
        panic!()
    };
    assert_eq!(r.port.as_deref(), Some("443"));
    assert!(r.permanent);
}

#[test]
fn internal_and_provider_references() {
    let ok =
        "http:\n  routers:\n    r:\n      rule: \"Path(`/`)\"\n      service: whoami@internal\n";
    assert!(parse_dynamic(ok, Format::Yaml, "d.yml").is_ok());
    let errors = dynamic_errors(&ok.replace("whoami@internal", "app@docker"), Format::Yaml);
    assert!(errors[0].is_unsupported(), "{}", errors[0]);
    assert!(
        errors[0].message.contains("provider `docker`"),
        "{}",
        errors[0]
    );
    let errors = dynamic_errors(
        &ok.replace("whoami@internal", "whoamii@internal"),
        Format::Yaml,
    );
    assert_eq!(errors[0].suggestion.as_deref(), Some("whoami@internal"));
    let file_ref = ROUTED.replace("service: app", "service: app@file");
    assert!(parse_dynamic(&file_ref, Format::Yaml, "d.yml").is_ok());
}

#[test]
fn duplicate_keys_differing_in_case() {
    let text = ROUTED.replace(
        "      service: app",
        "      service: app\n      Service: app",
    );
    let errors = dynamic_errors(&text, Format::Yaml);
    assert!(
        errors[0].message.starts_with("duplicate key"),
        "{}",
        errors[0]
    );
}

#[test]
fn empty_tls_means_tls_with_defaults() {
    let text = ROUTED.replace("service: app", "service: app\n      tls:");
    let c = parse_dynamic(&text, Format::Yaml, "d.yml").unwrap();
    assert_eq!(c.http.routers["api"].tls, Some(Default::default()));
}

#[test]
fn static_configuration_in_yaml_and_toml() {
    let yaml = "\
entryPoints:
  web:
    address: \":80\"
    http:
      redirections:
        entryPoint:
          to: websecure
  websecure:
    address: \"[::1]:443\"
    transport:
      respondingTimeouts:
        readTimeout: 30s
      lifeCycle:
        graceTimeOut: 5
    forwardedHeaders:
      trustedIPs: [10.0.0.0/8]
  dns:
    address: \":53/udp\"
providers:
  providersThrottleDuration: 1s
  file:
    directory: /etc/wasmgate/dynamic
    watch: false
log:
  level: debug
accessLog:
  format: json
";
    let toml = r#"
[entryPoints.web]
address = ":80"
[entryPoints.web.http.redirections.entryPoint]
to = "websecure"
[entryPoints.websecure]
address = "[::1]:443"
[entryPoints.websecure.transport.respondingTimeouts]
readTimeout = "30s"
[entryPoints.websecure.transport.lifeCycle]
graceTimeOut = 5
[entryPoints.websecure.forwardedHeaders]
trustedIPs = ["10.0.0.0/8"]
[entryPoints.dns]
address = ":53/udp"
[providers]
providersThrottleDuration = "1s"
[providers.file]
directory = "/etc/wasmgate/dynamic"
watch = false
[log]
level = "debug"
[accessLog]
format = "json"
"#;
    let a = parse_static(yaml, Format::Yaml, "traefik.yml").unwrap();
    let b = parse_static(toml, Format::Toml, "traefik.toml").unwrap();
    assert_eq!(a, b);
    let ws = &a.entry_points["websecure"];
    assert_eq!(
        ws.transport.responding_timeouts.read_timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        ws.transport.responding_timeouts.idle_timeout,
        Duration::from_secs(180)
    );
    assert_eq!(
        ws.transport.life_cycle.grace_time_out,
        Duration::from_secs(5)
    );
    assert_eq!(ws.listen_address().unwrap().host, "::1");
    let redirect = a.entry_points["web"].http.redirections.as_ref().unwrap();
    let redirect = redirect.entry_point.as_ref().unwrap();
    assert_eq!(
        (redirect.scheme.as_str(), redirect.permanent),
        ("https", true)
    );
    assert_eq!(
        a.entry_points["dns"].listen_address().unwrap().protocol,
        wasmgate_config::Protocol::Udp
    );
    assert!(!a.providers.file.as_ref().unwrap().watch);
    assert!(a.access_log.as_ref().unwrap().is_json());

    let errors = parse_static(
        &yaml
            .replace("to: websecure", "to: websecur")
            .replace("    address: \":80\"", "    adress: \":80\""),
        Format::Yaml,
        "traefik.yml",
    )
    .unwrap_err()
    .0;
    let adress = find(&errors, "entryPoints.web.adress");
    assert_eq!(adress.suggestion.as_deref(), Some("address"));
    assert_eq!(adress.line, Some(3));
    let to = find(&errors, "entryPoints.web.http.redirections.entryPoint.to");
    assert_eq!(to.suggestion.as_deref(), Some("websecure"));
}

#[test]
fn validate_without_files() {
    let mut c = parse_dynamic(ROUTED, Format::Yaml, "d.yml").unwrap();
    c.http.routers.get_mut("api").unwrap().service = Some("missing".into());
    let errors = validate(None, &c);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key_path, "http.routers.api.service");
    assert_eq!(errors[0].file, None);
    assert_eq!(
        errors[0].to_string(),
        "http.routers.api.service: unknown service `missing`"
    );
}

#[test]
fn static_and_dynamic_mixed_up() {
    let errors = dynamic_errors("entryPoints:\n  web:\n    address: \":80\"\n", Format::Yaml);
    assert_eq!(
        errors[0].message,
        "unknown key: `entryPoints` belongs in the static configuration, not in this file"
    );
    let errors = parse_static(ROUTED, Format::Yaml, "traefik.yml")
        .unwrap_err()
        .0;
    assert!(
        errors[0]
            .message
            .contains("belongs in the dynamic configuration"),
        "{}",
        errors[0]
    );
}

#[test]
fn plugin_pool_is_sized_in_static_configuration() {
    let ok = "plugins:\n  pool:\n    instances: 8\n    maxMemory: 16MiB\n";
    let cfg = parse_static(ok, Format::Yaml, "wasmgate.yml").unwrap();
    assert_eq!(cfg.plugins.pool.instances, Some(8));
    assert_eq!(cfg.plugins.pool.max_memory.map(|m| m.0), Some(16 << 20));

    let bad = "plugins:\n  pool:\n    instances: 0\n    maxMemory: 1KiB\n";
    let errors = parse_static(bad, Format::Yaml, "wasmgate.yml")
        .unwrap_err()
        .0;
    let of = |key: &str| {
        errors
            .iter()
            .find(|e| e.key_path == key)
            .unwrap_or_else(|| panic!("no error for {key}: {errors:?}"))
    };
    assert_eq!(of("plugins.pool.instances").message, "must be at least 1");
    assert_eq!(of("plugins.pool.instances").line, Some(3));
    assert!(of("plugins.pool.maxMemory").message.contains("64KiB"));
    assert_eq!(of("plugins.pool.maxMemory").line, Some(4));
}
