//! Building middlewares from their configuration.

use super::MiddlewareRt;
use super::headers::{Cors, HeadersRt};
use super::limits::{InFlightReq, IpAllowList, RateLimit, Source};
use super::path::PathRewrite;
use super::redirect::Redirect;
use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;
use std::time::Duration;
use wasmgate_config as config;

fn regex(r: &str) -> Result<Regex, String> {
    Regex::new(r).map_err(|e| format!("invalid regex `{r}`: {e}"))
}

fn ip_set(ranges: &[String]) -> Result<wasmgate_rules::IpSet, String> {
    wasmgate_rules::IpSet::parse(ranges).map_err(|(i, e)| format!("`{}`: {e}", ranges[i]))
}

fn header_name(n: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| format!("`{n}` is not a valid header name"))
}

fn header_value(v: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(v).map_err(|_| format!("`{v}` is not a valid header value"))
}

fn header_list(
    map: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, Option<HeaderValue>)>, String> {
    map.iter()
        .map(|(k, v)| {
            let value = if v.is_empty() {
                None
            } else {
                Some(header_value(v)?)
            };
            Ok((header_name(k)?, value))
        })
        .collect()
}

fn joined(list: &[String]) -> Result<Option<HeaderValue>, String> {
    if list.is_empty() {
        Ok(None)
    } else {
        header_value(&list.join(",")).map(Some)
    }
}

fn source(sc: Option<&config::SourceCriterion>) -> Result<Source, String> {
    let Some(sc) = sc else {
        return Ok(Source::ClientIp);
    };
    if let Some(h) = &sc.request_header_name {
        return Ok(Source::Header(header_name(h)?));
    }
    if sc.request_host {
        return Ok(Source::Host);
    }
    match &sc.ip_strategy {
        Some(s) => ip_strategy(s),
        None => Ok(Source::ClientIp),
    }
}

fn ip_strategy(s: &config::IpStrategy) -> Result<Source, String> {
    if s.ipv6_subnet.is_some() {
        return Err("ipStrategy.ipv6Subnet is not supported yet".into());
    }
    if s.depth > 0 {
        return Ok(Source::ForwardedDepth(
            usize::try_from(s.depth).unwrap_or(usize::MAX),
        ));
    }
    if !s.excluded_ips.is_empty() {
        return Ok(Source::ForwardedExcluding(ip_set(&s.excluded_ips)?));
    }
    Ok(Source::ClientIp)
}

/// Builds one middleware (not `chain`, which the router builder flattens).
pub fn middleware(def: &config::Middleware) -> Result<MiddlewareRt, String> {
    use config::Middleware as M;
    Ok(match def {
        M::AddPrefix(a) => MiddlewareRt::Path(PathRewrite::AddPrefix(a.prefix.clone())),
        M::StripPrefix(s) => MiddlewareRt::Path(PathRewrite::StripPrefix(s.prefixes.clone())),
        M::StripPrefixRegex(s) => MiddlewareRt::Path(PathRewrite::StripPrefixRegex(
            s.regex.iter().map(|r| regex(r)).collect::<Result<_, _>>()?,
        )),
        M::ReplacePath(r) => MiddlewareRt::Path(PathRewrite::ReplacePath(r.path.clone())),
        M::ReplacePathRegex(r) => MiddlewareRt::Path(PathRewrite::ReplacePathRegex(
            regex(&r.regex)?,
            r.replacement.clone(),
        )),
        M::RedirectScheme(r) => MiddlewareRt::Redirect(Redirect::Scheme {
            scheme: if r.scheme.is_empty() {
                "https".into()
            } else {
                r.scheme.clone()
            },
            port: r.port.clone().filter(|p| !p.is_empty()),
            permanent: r.permanent,
        }),
        M::RedirectRegex(r) => MiddlewareRt::Redirect(Redirect::Regex {
            regex: regex(&r.regex)?,
            replacement: r.replacement.clone(),
            permanent: r.permanent,
        }),
        M::Headers(h) => MiddlewareRt::Headers(headers(h)?),
        M::IpAllowList(a) | M::IpWhiteList(a) => MiddlewareRt::IpAllowList(IpAllowList {
            ranges: ip_set(&a.source_range)?,
            source: match &a.ip_strategy {
                Some(s) => ip_strategy(s)?,
                None => Source::ClientIp,
            },
            reject: match a.reject_status_code {
                Some(c) => {
                    StatusCode::from_u16(c).map_err(|_| format!("invalid rejectStatusCode {c}"))?
                }
                None => StatusCode::FORBIDDEN,
            },
        }),
        M::InFlightReq(f) => MiddlewareRt::InFlightReq(InFlightReq::new(
            u64::try_from(f.amount).unwrap_or(0),
            source(f.source_criterion.as_ref())?,
        )),
        M::RateLimit(r) => MiddlewareRt::RateLimit(RateLimit::new(
            u64::try_from(r.average).unwrap_or(0),
            r.period.to_std_nonzero().unwrap_or(Duration::from_secs(1)),
            u64::try_from(r.burst).unwrap_or(1),
            source(r.source_criterion.as_ref())?,
        )),
        M::BasicAuth(a) => {
            let mut lines = a.users.clone();
            if let Some(file) = &a.users_file {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("basicAuth.usersFile `{file}`: {e}"))?;
                lines.extend(text.lines().map(str::to_owned));
            }
            MiddlewareRt::BasicAuth(super::auth::BasicAuth::new(
                lines,
                a.realm.as_deref(),
                a.header_field.as_deref(),
                a.remove_header,
            )?)
        }
        M::Retry(r) => MiddlewareRt::Retry(super::Retry {
            attempts: u32::try_from(r.attempts.max(1)).unwrap_or(u32::MAX),
            initial_interval: r
                .initial_interval
                .to_std()
                .unwrap_or(Duration::from_millis(100)),
        }),
        other => {
            return Err(format!(
                "middleware type `{}` is not supported yet",
                other.kind()
            ));
        }
    })
}

fn headers(h: &config::Headers) -> Result<HeadersRt, String> {
    let unsupported = [
        (!h.allowed_hosts.is_empty(), "allowedHosts"),
        (!h.hosts_proxy_headers.is_empty(), "hostsProxyHeaders"),
        (!h.ssl_proxy_headers.is_empty(), "sslProxyHeaders"),
        (h.public_key.is_some(), "publicKey"),
    ];
    if let Some((_, key)) = unsupported.iter().find(|(set, _)| *set) {
        return Err(format!("headers.{key} is not supported yet"));
    }
    let mut security = Vec::new();
    let mut add = |name: &'static str, value: &str| -> Result<(), String> {
        security.push((HeaderName::from_static(name), header_value(value)?));
        Ok(())
    };
    // Without TLS on the entrypoint, Strict-Transport-Security is sent only when forced.
    if h.sts_seconds > 0 && h.force_sts_header {
        let mut v = format!("max-age={}", h.sts_seconds);
        if h.sts_include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if h.sts_preload {
            v.push_str("; preload");
        }
        add("strict-transport-security", &v)?;
    }
    if let Some(v) = &h.custom_frame_options_value {
        add("x-frame-options", v)?;
    } else if h.frame_deny {
        add("x-frame-options", "DENY")?;
    }
    if h.content_type_nosniff {
        add("x-content-type-options", "nosniff")?;
    }
    if let Some(v) = &h.custom_browser_xss_value {
        add("x-xss-protection", v)?;
    } else if h.browser_xss_filter {
        add("x-xss-protection", "1; mode=block")?;
    }
    if let Some(v) = &h.content_security_policy {
        add("content-security-policy", v)?;
    }
    if let Some(v) = &h.content_security_policy_report_only {
        add("content-security-policy-report-only", v)?;
    }
    if let Some(v) = &h.referrer_policy {
        add("referrer-policy", v)?;
    }
    if let Some(v) = &h.permissions_policy {
        add("permissions-policy", v)?;
    }
    let cors_set = h.access_control_allow_credentials
        || !h.access_control_allow_headers.is_empty()
        || !h.access_control_allow_methods.is_empty()
        || !h.access_control_allow_origin_list.is_empty()
        || !h.access_control_allow_origin_list_regex.is_empty()
        || !h.access_control_expose_headers.is_empty()
        || h.access_control_max_age != 0;
    let cors = if cors_set {
        Some(Cors {
            origins: h.access_control_allow_origin_list.clone(),
            origin_regexes: h
                .access_control_allow_origin_list_regex
                .iter()
                .map(|r| regex(r))
                .collect::<Result<_, _>>()?,
            methods: joined(&h.access_control_allow_methods)?,
            headers: joined(&h.access_control_allow_headers)?,
            expose: joined(&h.access_control_expose_headers)?,
            max_age: (h.access_control_max_age != 0)
                .then(|| HeaderValue::from(h.access_control_max_age)),
            credentials: h.access_control_allow_credentials,
            vary: h.add_vary_header,
        })
    } else {
        None
    };
    Ok(HeadersRt {
        request: header_list(&h.custom_request_headers)?,
        response: header_list(&h.custom_response_headers)?,
        security,
        cors,
    })
}
