//! Semantic validation: references, rules, URLs, regexes, ranges and unsupported features.

mod dynamic_other;
mod http;
mod static_cfg;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ConfigError, Issue};
use crate::features::{NameRef, resolve_name, unsupported_key};
use crate::locate::KeyPath;
use crate::model::{DynamicConfig, StaticConfig, Unsupported};
use crate::suggest::closest;
use crate::{Duration, UNSUPPORTED_PREFIX};

pub(crate) use static_cfg::validate_static;

/// What is known about entries that did not survive loading.
pub(crate) struct Known<'a> {
    /// Named entries that exist but could not be decoded; references to them are fine.
    pub(crate) dropped: &'a BTreeSet<KeyPath>,
    /// False when a file could not be read at all: then nothing can be said about
    /// references to missing names.
    pub(crate) complete: bool,
}

/// Validates a dynamic configuration, with the static one when given (entry points and
/// their middlewares). Static-only checks are in [`validate_static`].
pub(crate) fn validate_dynamic(
    static_cfg: Option<&StaticConfig>,
    dynamic: &DynamicConfig,
    known: &Known<'_>,
) -> Vec<Issue> {
    let mut ctx = Ctx {
        static_cfg,
        dynamic,
        known,
        issues: Vec::new(),
    };
    http::validate_http(&mut ctx);
    dynamic_other::validate_tcp(&mut ctx);
    dynamic_other::validate_udp(&mut ctx);
    dynamic_other::validate_tls(&mut ctx);
    if let Some(s) = static_cfg {
        static_cfg::validate_entry_point_middlewares(&mut ctx, s);
    }
    ctx.issues
}

/// Validates a configuration: the dynamic part, and the static part when given (including
/// that routers use existing entry points).
///
/// Errors carry key paths but no file positions; the `load_*` functions and [`crate::check`]
/// report the same errors located in their files.
pub fn validate(static_cfg: Option<&StaticConfig>, dynamic: &DynamicConfig) -> Vec<ConfigError> {
    let dropped = BTreeSet::new();
    let known = Known {
        dropped: &dropped,
        complete: true,
    };
    let mut issues = static_cfg.map(validate_static).unwrap_or_default();
    issues.extend(validate_dynamic(static_cfg, dynamic, &known));
    issues.into_iter().map(Issue::unlocated).collect()
}

/// Validation state.
pub(crate) struct Ctx<'a> {
    pub(crate) static_cfg: Option<&'a StaticConfig>,
    pub(crate) dynamic: &'a DynamicConfig,
    pub(crate) known: &'a Known<'a>,
    pub(crate) issues: Vec<Issue>,
}

/// What a reference points to, for [`Ctx::reference`].
pub(crate) struct Target<'a, V> {
    /// e.g. "service"
    pub(crate) what: &'static str,
    /// e.g. `["http", "services"]`
    pub(crate) section: [&'static str; 2],
    pub(crate) defined: &'a BTreeMap<String, V>,
    /// Names valid with `@internal`.
    pub(crate) internal: &'static [&'static str],
}

impl Ctx<'_> {
    pub(crate) fn error(&mut self, path: KeyPath, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    /// Reports `path` as an unsupported Traefik feature.
    pub(crate) fn unsupported(&mut self, path: KeyPath) {
        let message = unsupported_key(&path);
        self.issues.push(Issue::new(path, message));
    }

    /// Reports `path` as unsupported, with an explanation.
    pub(crate) fn unsupported_because(&mut self, path: KeyPath, what: &str) {
        let message = format!("{UNSUPPORTED_PREFIX}: {what} ({path})");
        self.issues.push(Issue::new(path, message));
    }

    /// Reports the field `key` of `parent` when it is set.
    pub(crate) fn no(&mut self, parent: &KeyPath, key: &str, field: &Option<Unsupported>) {
        if field.is_some() {
            self.unsupported(parent.key(key));
        }
    }

    /// Checks that `reference` (possibly `@provider`-qualified) names an existing entry.
    pub(crate) fn reference<V>(&mut self, path: KeyPath, reference: &str, target: &Target<'_, V>) {
        let what = target.what;
        match resolve_name(reference) {
            _ if reference.trim().is_empty() => {
                self.error(path, format!("a {what} name is required"));
            }
            NameRef::Local(name) => {
                let entry = KeyPath::of(&[target.section[0], target.section[1], name]);
                if target.defined.contains_key(name)
                    || self.known.dropped.contains(&entry)
                    || !self.known.complete
                {
                    return;
                }
                let suggestion = closest(name, target.defined.keys().map(String::as_str));
                let message = if target.defined.is_empty() {
                    format!("unknown {what} `{reference}` (no {what} is defined)")
                } else {
                    format!("unknown {what} `{reference}`")
                };
                self.issues
                    .push(Issue::new(path, message).suggest(suggestion));
            }
            NameRef::Internal(name) => {
                if !target.internal.contains(&name) {
                    let message = if target.internal.is_empty() {
                        format!("unknown internal {what} `{reference}`: there are none")
                    } else {
                        format!(
                            "unknown internal {what} `{reference}` (available: {})",
                            target
                                .internal
                                .iter()
                                .map(|n| format!("`{n}@internal`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    let suggestion = closest(name, target.internal.iter().copied())
                        .map(|n| format!("{n}@internal"));
                    self.issues
                        .push(Issue::new(path, message).suggest(suggestion.as_deref()));
                }
            }
            NameRef::OtherProvider { provider, .. } => {
                let message = format!(
                    "{UNSUPPORTED_PREFIX}: provider `{provider}` (in {what} reference `{reference}`); \
                     only the file provider is supported"
                );
                self.error(path, message);
            }
        }
    }

    /// Checks the names defined in a section: no `@` (it separates the provider).
    pub(crate) fn names<V>(&mut self, section: [&str; 2], defined: &BTreeMap<String, V>) {
        for name in defined.keys() {
            // The etcd provider's elements are merged in as `name@etcd`.
            let bare = name.strip_suffix("@etcd").unwrap_or(name);
            if bare.contains('@') {
                self.error(
                    KeyPath::of(&[section[0], section[1], name]),
                    "names must not contain `@` (it separates a name from its provider)",
                );
            } else if name.trim().is_empty() {
                self.error(KeyPath::of(&[section[0], section[1], name]), "empty name");
            }
        }
    }

    /// A duration that must not be negative.
    pub(crate) fn non_negative(&mut self, path: KeyPath, d: Duration) {
        if d.is_negative() {
            self.error(path, format!("must not be negative (got {d})"));
        }
    }

    /// Entry point names checked against the static configuration, when known.
    pub(crate) fn entry_points(&mut self, path: &KeyPath, names: &[String], udp: bool) {
        let Some(static_cfg) = self.static_cfg else {
            return;
        };
        for (i, name) in names.iter().enumerate() {
            match static_cfg.entry_points.get(name) {
                Some(ep) => {
                    let is_udp = ep
                        .listen_address()
                        .is_ok_and(|a| a.protocol == crate::Protocol::Udp);
                    if is_udp != udp {
                        let (want, got) = if udp { ("UDP", "TCP") } else { ("TCP", "UDP") };
                        self.error(
                            path.index(i),
                            format!(
                                "entry point `{name}` is {got}; this router needs a {want} entry point"
                            ),
                        );
                    }
                }
                None => {
                    let suggestion =
                        closest(name, static_cfg.entry_points.keys().map(String::as_str));
                    self.issues.push(
                        Issue::new(path.index(i), format!("unknown entry point `{name}`"))
                            .suggest(suggestion),
                    );
                }
            }
        }
    }
}

/// Checks an IP address or CIDR range (`10.0.0.0/8`, `::1`, `192.168.1.7`).
pub(crate) fn check_ip_range(value: &str) -> Result<(), String> {
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let ip: std::net::IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("not an IP address or CIDR range: `{value}`"))?;
    if let Some(prefix) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match prefix.parse::<u8>() {
            Ok(n) if n <= max => {}
            _ => return Err(format!("invalid prefix length in `{value}` (0 to {max})")),
        }
    }
    Ok(())
}

/// Checks a `host:port` address.
pub(crate) fn check_host_port(value: &str) -> Result<(), String> {
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!("must be `host:port`, found `{value}`"));
    };
    if host.is_empty() {
        return Err(format!("missing host in `{value}`"));
    }
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| format!("invalid port `{port}` in `{value}`"))
}

/// Compiles a regex as Traefik's middlewares would.
pub(crate) fn check_regex(value: &str) -> Result<(), String> {
    regex::Regex::new(value).map(|_| ()).map_err(|e| {
        let detail = e.to_string();
        let last = detail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        format!("invalid regular expression `{value}`: {last}")
    })
}

/// Reference cycles of a graph, each reported once, starting at its smallest name.
pub(crate) fn find_cycles(graph: &BTreeMap<&str, Vec<&str>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        cycles: &mut BTreeSet<Vec<String>>,
    ) {
        marks.insert(node, Mark::Active);
        stack.push(node);
        for &next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Active => {
                    let start = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| (*s).to_string()).collect();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by(|a, b| a.1.cmp(b.1))
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    cycles.insert(cycle);
                }
                Mark::New if graph.contains_key(next) => {
                    visit(next, graph, marks, stack, cycles);
                }
                _ => {}
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut cycles = BTreeSet::new();
    for &node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            visit(node, graph, &mut marks, &mut Vec::new(), &mut cycles);
        }
    }
    cycles.into_iter().collect()
}

fn rule_syntax(syntax: Option<&str>) -> Result<wasmgate_rules::Syntax, String> {
    match syntax.map(str::trim) {
        None | Some("") => Ok(wasmgate_rules::Syntax::V3),
        Some(s) => s
            .parse::<wasmgate_rules::Syntax>()
            .map_err(|_| format!("unknown rule syntax `{s}` (use `v3` or `v2`)")),
    }
}

/// The names of the plugins a configuration declares (dynamic and static).
pub(crate) fn declared_plugins<'a>(ctx: &Ctx<'a>) -> Vec<&'a str> {
    let mut names: Vec<&str> = ctx.dynamic.plugins.keys().map(String::as_str).collect();
    if let Some(s) = ctx.static_cfg {
        names.extend(s.plugins.definitions.keys().map(String::as_str));
    }
    names
}

/// `plugin `x` is not declared`, with the closest declared name.
pub(crate) fn undeclared_plugin(name: &str, declared: &[&str]) -> String {
    match crate::suggest::closest(name, declared.iter().copied()) {
        Some(s) => format!("plugin `{name}` is not declared under `plugins`; did you mean `{s}`?"),
        None => format!("plugin `{name}` is not declared under `plugins`"),
    }
}

/// Accepts ``Plugin(`name`)`` in rules for the plugins a configuration declares.
struct DeclaredPlugins<'a>(&'a [&'a str]);

struct NeverMatches;

impl wasmgate_rules::CustomMatcher for NeverMatches {
    fn matches(&self, _: &wasmgate_rules::RequestInfo<'_>) -> bool {
        false
    }
}

impl wasmgate_rules::CustomResolver for DeclaredPlugins<'_> {
    fn resolve(
        &self,
        name: &str,
        args: &[String],
    ) -> Option<Result<std::sync::Arc<dyn wasmgate_rules::CustomMatcher>, String>> {
        if !name.eq_ignore_ascii_case("Plugin") {
            return None;
        }
        Some(match args {
            [plugin] if self.0.contains(&plugin.as_str()) => Ok(std::sync::Arc::new(NeverMatches)),
            [plugin] => Err(undeclared_plugin(plugin, self.0)),
            _ => Err("Plugin takes one argument, the plugin's name".to_owned()),
        })
    }
}

/// Checks an HTTP router rule with the rule engine; ``Plugin(`name`)`` must name a declared
/// plugin.
pub(crate) fn check_rule(rule: &str, syntax: Option<&str>, plugins: &[&str]) -> Result<(), String> {
    wasmgate_rules::HttpRule::parse_with(rule, rule_syntax(syntax)?, &DeclaredPlugins(plugins))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks a TCP router rule with the rule engine.
pub(crate) fn check_tcp_rule(rule: &str, syntax: Option<&str>) -> Result<(), String> {
    wasmgate_rules::TcpRule::parse(rule, rule_syntax(syntax)?)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_ranges() {
        for ok in [
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "0.0.0.0/0",
        ] {
            assert!(check_ip_range(ok).is_ok(), "{ok}");
        }
        for bad in ["foobar", "10.0.0.0/33", "::1/129", "1.2.3.4/x", ""] {
            assert!(check_ip_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cycles_are_found_once() {
        let mut g = BTreeMap::new();
        g.insert("a", vec!["b"]);
        g.insert("b", vec!["c"]);
        g.insert("c", vec!["a", "d"]);
        g.insert("d", vec![]);
        g.insert("e", vec!["e"]);
        let cycles = find_cycles(&g);
        assert_eq!(
            cycles,
            vec![
                vec!["a".to_string(), "b".to_string(), "c".to_string()],
                vec!["e".to_string()]
            ]
        );
    }
}
