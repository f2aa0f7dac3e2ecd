//! Loading static and dynamic configuration from text, files and directories.
//!
//! Every function reports all the problems it finds, sorted by file and line: each file's
//! unknown keys, ill-typed values and validation errors. A YAML or TOML *syntax* error stops
//! the reading of that file (only the first one is reported, the parsers do not recover),
//! but the other files of a directory are still read and checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::decode::Decoded;
use crate::error::{ConfigError, ConfigErrors, Issue, sort_errors};
use crate::locate::{self, KeyPath, LocationIndex, Seg};
use crate::model::{DynamicConfig, StaticConfig};
use crate::shape::{decode_dynamic, decode_static};
use crate::sources::{SourceFile, SourceMap};
use crate::validate::{self, Known};

/// Configuration file syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yml`, `.yaml`).
    Yaml,
    /// TOML (`.toml`).
    Toml,
}

impl Format {
    /// The format of a file, from its extension (`.yml`, `.yaml` or `.toml`, any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yml" | "yaml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    fn of(path: &Path) -> Result<Format, String> {
        Format::from_path(path).ok_or_else(|| {
            "unknown configuration format: the file name must end in .yml, .yaml or .toml"
                .to_string()
        })
    }
}

/// The result of [`check`]: both configurations, validated against each other.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The static configuration, when one was given.
    pub static_config: Option<StaticConfig>,
    /// The dynamic configuration (empty when there is none).
    pub dynamic: DynamicConfig,
    /// Where the dynamic configuration was read from, if anywhere.
    pub dynamic_path: Option<PathBuf>,
}

/// One document read: its configuration (if usable) and everything found on the way.
struct Doc<T> {
    config: Option<T>,
    file: SourceFile,
    errors: Vec<ConfigError>,
    reported: BTreeSet<KeyPath>,
    dropped: BTreeSet<KeyPath>,
    /// False when the file could not be read or parsed at all.
    complete: bool,
}

fn read_doc<T: DeserializeOwned>(
    text: &str,
    format: Format,
    path: PathBuf,
    decoder: fn(serde_json::Value) -> Decoded<T>,
) -> Doc<T> {
    let parsed = match format {
        Format::Yaml => locate::parse_yaml(text),
        Format::Toml => locate::parse_toml(text),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(err) => {
            let mut message = err.message;
            if text.contains("{{") {
                message.push_str(
                    " (Go templates in configuration files are not supported; \
                     write plain YAML/TOML)",
                );
            }
            return Doc {
                config: None,
                errors: vec![ConfigError {
                    file: Some(path.clone()),
                    line: err.pos.map(|p| p.line),
                    column: err.pos.map(|p| p.column),
                    ..ConfigError::new("", message)
                }],
                file: SourceFile {
                    path,
                    index: LocationIndex::default(),
                },
                reported: BTreeSet::new(),
                dropped: BTreeSet::new(),
                complete: false,
            };
        }
    };
    let decoded = decoder(parsed.value);
    let file = SourceFile {
        path,
        index: parsed.index,
    };
    let mut single = SourceMap::default();
    single.add_file(file.clone());
    Doc {
        complete: decoded.config.is_some(),
        config: decoded.config,
        errors: decoded
            .issues
            .into_iter()
            .map(|i| single.locate(i))
            .collect(),
        file,
        reported: decoded.reported,
        dropped: decoded.dropped,
    }
}

fn read_file<T: DeserializeOwned>(
    path: &Path,
    decoder: fn(serde_json::Value) -> Decoded<T>,
) -> Doc<T> {
    let unreadable = |message: String| Doc {
        config: None,
        file: SourceFile {
            path: path.to_path_buf(),
            index: LocationIndex::default(),
        },
        errors: vec![ConfigError {
            file: Some(path.to_path_buf()),
            ..ConfigError::new("", message)
        }],
        reported: BTreeSet::new(),
        dropped: BTreeSet::new(),
        complete: false,
    };
    if path.is_dir() {
        return unreadable("is a directory, not a configuration file".to_string());
    }
    let format = match Format::of(path) {
        Ok(f) => f,
        Err(e) => return unreadable(e),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => read_doc(&text, format, path.to_path_buf(), decoder),
        Err(e) => unreadable(format!("cannot read file: {e}")),
    }
}

// ---------------------------------------------------------------------------------------
// Static configuration

/// A static configuration and where it came from.
struct StaticDoc {
    config: Option<StaticConfig>,
    sources: SourceMap,
    errors: Vec<ConfigError>,
}

fn finish_static(doc: Doc<StaticConfig>) -> StaticDoc {
    let mut sources = SourceMap::default();
    sources.add_file(doc.file);
    let mut errors = doc.errors;
    if let Some(config) = &doc.config {
        errors.extend(
            validate::validate_static(config)
                .into_iter()
                .filter(|i| !is_reported(&doc.reported, &i.path))
                .map(|i| sources.locate(i)),
        );
    }
    StaticDoc {
        config: doc.config,
        sources,
        errors,
    }
}

/// Parses and validates a static configuration from text; `source` names it in errors.
pub fn parse_static(
    text: &str,
    format: Format,
    source: &str,
) -> Result<StaticConfig, ConfigErrors> {
    let doc = finish_static(read_doc(text, format, PathBuf::from(source), decode_static));
    result(doc.errors, doc.config)
}

/// Loads and validates a static configuration file (`.yml`, `.yaml` or `.toml`).
pub fn load_static(path: &Path) -> Result<StaticConfig, ConfigErrors> {
    let doc = finish_static(read_file(path, decode_static));
    result(doc.errors, doc.config)
}

fn result<T>(mut errors: Vec<ConfigError>, config: Option<T>) -> Result<T, ConfigErrors> {
    sort_errors(&mut errors);
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ if errors.is_empty() => Err(ConfigErrors(vec![ConfigError::new(
            "",
            "configuration could not be read",
        )])),
        _ => Err(ConfigErrors(errors)),
    }
}

// ---------------------------------------------------------------------------------------
// Dynamic configuration

/// Dynamic configuration merged from one or more documents.
#[derive(Default)]
struct DynamicSet {
    config: DynamicConfig,
    sources: SourceMap,
    errors: Vec<ConfigError>,
    reported: BTreeSet<KeyPath>,
    dropped: BTreeSet<KeyPath>,
    complete: bool,
}

impl DynamicSet {
    fn new() -> Self {
        DynamicSet {
            complete: true,
            ..DynamicSet::default()
        }
    }

    /// Adds one document, reporting names already defined by an earlier one.
    fn add(&mut self, doc: Doc<DynamicConfig>) {
        self.errors.extend(doc.errors);
        self.complete &= doc.complete;
        self.reported.extend(doc.reported);
        self.dropped.extend(doc.dropped);
        let index = doc.file.index.clone();
        let file = self.sources.add_file(doc.file);
        let Some(config) = doc.config else {
            return;
        };
        let mut merger = Merger {
            sources: &mut self.sources,
            errors: &mut self.errors,
            index: &index,
            file,
        };
        let into = &mut self.config;
        merger.map(
            &mut into.http.routers,
            config.http.routers,
            &["http", "routers"],
        );
        merger.map(
            &mut into.http.services,
            config.http.services,
            &["http", "services"],
        );
        merger.map(
            &mut into.http.middlewares,
            config.http.middlewares,
            &["http", "middlewares"],
        );
        merger.map(
            &mut into.http.servers_transports,
            config.http.servers_transports,
            &["http", "serversTransports"],
        );
        merger.map(
            &mut into.tcp.routers,
            config.tcp.routers,
            &["tcp", "routers"],
        );
        merger.map(
            &mut into.tcp.services,
            config.tcp.services,
            &["tcp", "services"],
        );
        merger.map(
            &mut into.tcp.middlewares,
            config.tcp.middlewares,
            &["tcp", "middlewares"],
        );
        merger.map(
            &mut into.tcp.servers_transports,
            config.tcp.servers_transports,
            &["tcp", "serversTransports"],
        );
        merger.map(
            &mut into.udp.routers,
            config.udp.routers,
            &["udp", "routers"],
        );
        merger.map(
            &mut into.udp.services,
            config.udp.services,
            &["udp", "services"],
        );
        merger.map(
            &mut into.tls.options,
            config.tls.options,
            &["tls", "options"],
        );
        merger.map(&mut into.tls.stores, config.tls.stores, &["tls", "stores"]);
        merger.map(&mut into.plugins, config.plugins, &["plugins"]);
        for (i, cert) in config.tls.certificates.into_iter().enumerate() {
            self.sources.push_certificate(file, i);
            into.tls.certificates.push(cert);
        }
        // Entries dropped while decoding still belong to this file.
        for path in &self.dropped {
            if self.sources.owner(path).is_none() {
                self.sources.set_owner(path.clone(), file);
            }
        }
    }

    /// Validates the merged configuration and returns it, or every error found.
    fn finish(
        mut self,
        static_cfg: Option<&StaticConfig>,
        static_sources: Option<&SourceMap>,
    ) -> (DynamicConfig, Vec<ConfigError>) {
        let known = Known {
            dropped: &self.dropped,
            complete: self.complete,
        };
        let issues = validate::validate_dynamic(static_cfg, &self.config, &known);
        for issue in issues {
            if is_reported(&self.reported, &issue.path) {
                continue;
            }
            let located = match (is_dynamic_path(&issue.path), static_sources) {
                (true, _) => self.sources.locate(issue),
                (false, Some(s)) => s.locate(issue),
                (false, None) => issue.unlocated(),
            };
            self.errors.push(located);
        }
        (self.config, self.errors)
    }
}

/// True for paths of the dynamic configuration (`http…`, `tcp…`, `udp…`, `tls…`).
fn is_dynamic_path(path: &KeyPath) -> bool {
    matches!(path.0.first(), Some(Seg::Key(k)) if ["http", "tcp", "udp", "tls", "plugins"].contains(&k.as_str()))
}

/// True when `path`, or an ancestor of it, was already reported while decoding.
fn is_reported(reported: &BTreeSet<KeyPath>, path: &KeyPath) -> bool {
    (0..=path.0.len()).any(|n| n > 0 && reported.contains(&KeyPath(path.0[..n].to_vec())))
}

struct Merger<'a> {
    sources: &'a mut SourceMap,
    errors: &'a mut Vec<ConfigError>,
    index: &'a LocationIndex,
    file: usize,
}

impl Merger<'_> {
    fn map<T>(
        &mut self,
        into: &mut BTreeMap<String, T>,
        from: BTreeMap<String, T>,
        section: &[&str],
    ) {
        for (name, item) in from {
            let mut segments = section.to_vec();
            segments.push(&name);
            let entry = KeyPath::of(&segments);
            if let Some(first) = self
                .sources
                .owner(&entry)
                .filter(|_| into.contains_key(&name))
            {
                let first_path = self.sources.file_path(first).to_path_buf();
                let this_path = self.sources.file_path(self.file).to_path_buf();
                let first_at = self
                    .sources
                    .locate(Issue::new(entry.clone(), String::new()))
                    .line
                    .map(|l| format!(":{l}"))
                    .unwrap_or_default();
                let pos = self.index.locate(&entry);
                self.errors.push(ConfigError {
                    file: Some(this_path.clone()),
                    line: pos.map(|p| p.line),
                    column: pos.map(|p| p.column),
                    ..ConfigError::new(
                        entry.to_string(),
                        format!(
                            "defined in both `{}{first_at}` and `{}`; names must be unique across files",
                            first_path.display(),
                            this_path.display()
                        ),
                    )
                });
                continue;
            }
            self.sources.set_owner(entry, self.file);
            into.insert(name, item);
        }
    }
}

/// Every `.yml`, `.yaml` and `.toml` file under `dir` (recursively), sorted.
fn config_files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if depth < 16 {
                    walk(&path, depth + 1, out)?;
                }
            } else if Format::from_path(&path).is_some() {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, 0, &mut files).map_err(|e| format!("cannot read directory: {e}"))?;
    Ok(files)
}

/// Reads a dynamic configuration file or directory, without validating it.
fn read_dynamic_path(path: &Path) -> DynamicSet {
    let mut set = DynamicSet::new();
    if path.is_dir() {
        match config_files_in(path) {
            Ok(files) => {
                for file in files {
                    set.add(read_file(&file, decode_dynamic));
                }
            }
            Err(e) => {
                set.errors.push(ConfigError {
                    file: Some(path.to_path_buf()),
                    ..ConfigError::new("", e)
                });
                set.complete = false;
            }
        }
    } else {
        set.add(read_file(path, decode_dynamic));
    }
    set
}

/// Parses and validates a dynamic configuration from text; `source` names it in errors.
///
/// Without a static configuration, router entry points are not checked.
pub fn parse_dynamic(
    text: &str,
    format: Format,
    source: &str,
) -> Result<DynamicConfig, ConfigErrors> {
    let mut set = DynamicSet::new();
    set.add(read_doc(
        text,
        format,
        PathBuf::from(source),
        decode_dynamic,
    ));
    let (config, errors) = set.finish(None, None);
    result(errors, Some(config))
}

/// Loads and validates one dynamic configuration file.
///
/// Without a static configuration, router entry points are not checked; see
/// [`load_dynamic_checked`].
pub fn load_dynamic(path: &Path) -> Result<DynamicConfig, ConfigErrors> {
    let mut set = DynamicSet::new();
    set.add(read_file(path, decode_dynamic));
    let (config, errors) = set.finish(None, None);
    result(errors, Some(config))
}

/// Loads, merges and validates every `.yml`, `.yaml` and `.toml` file of a directory (and
/// its subdirectories, as Traefik's file provider does). A router, service, middleware,
/// servers transport, TLS option or store defined in two files is an error naming both.
pub fn load_dynamic_dir(dir: &Path) -> Result<DynamicConfig, ConfigErrors> {
    if !dir.is_dir() {
        return Err(ConfigErrors(vec![ConfigError {
            file: Some(dir.to_path_buf()),
            ..ConfigError::new("", "not a directory")
        }]));
    }
    load_dynamic_checked(dir, None)
}

/// Loads a dynamic configuration file or directory and validates it, against the static
/// configuration when given (router entry points, entry-point middlewares).
pub fn load_dynamic_checked(
    path: &Path,
    static_cfg: Option<&StaticConfig>,
) -> Result<DynamicConfig, ConfigErrors> {
    let (config, errors) = read_dynamic_path(path).finish(static_cfg, None);
    result(errors, Some(config))
}

/// Reads a dynamic configuration file or directory without checking references between
/// names (for a configuration merged with other providers' before it is validated).
/// Unknown keys, ill-typed values and names defined twice are still errors, located.
pub fn read_dynamic_unvalidated(path: &Path) -> Result<DynamicConfig, ConfigErrors> {
    let set = read_dynamic_path(path);
    result(set.errors, Some(set.config))
}

/// Checks a whole setup and reports every error found in all files.
///
/// Every unknown key, ill-typed value and validation error of every file is reported. A YAML
/// or TOML syntax error stops the reading of its file (the parsers do not recover), so at
/// most one syntax error is reported per file; while any file is unreadable, references to
/// names that might have been defined in it are not checked.
///
/// `static_path` is Traefik's static configuration (optional). The dynamic configuration is
/// read from `dynamic_path` (a file or a directory) or, when not given, from the static
/// configuration's `providers.file.filename` / `providers.file.directory` (relative paths
/// are relative to the working directory, as in Traefik).
pub fn check(
    static_path: Option<&Path>,
    dynamic_path: Option<&Path>,
) -> Result<Checked, ConfigErrors> {
    let mut errors = Vec::new();
    let static_doc = static_path.map(|p| finish_static(read_file(p, decode_static)));
    let static_cfg = static_doc.as_ref().and_then(|d| d.config.clone());
    if let Some(doc) = &static_doc {
        errors.extend(doc.errors.iter().cloned());
    }
    let dynamic_path = dynamic_path.map(Path::to_path_buf).or_else(|| {
        let file = static_cfg.as_ref()?.providers.file.as_ref()?;
        file.filename
            .as_ref()
            .or(file.directory.as_ref())
            .map(PathBuf::from)
    });
    let dynamic = match &dynamic_path {
        Some(path) => {
            let (config, dyn_errors) = read_dynamic_path(path)
                .finish(static_cfg.as_ref(), static_doc.as_ref().map(|d| &d.sources));
            errors.extend(dyn_errors);
            config
        }
        None => {
            let (config, dyn_errors) = DynamicSet::new()
                .finish(static_cfg.as_ref(), static_doc.as_ref().map(|d| &d.sources));
            errors.extend(dyn_errors);
            config
        }
    };
    if static_doc.as_ref().is_some_and(|d| d.config.is_none()) && errors.is_empty() {
        errors.push(ConfigError::new(
            "",
            "static configuration could not be read",
        ));
    }
    sort_errors(&mut errors);
    if errors.is_empty() {
        Ok(Checked {
            static_config: static_cfg,
            dynamic,
            dynamic_path,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}
