//! The file provider: one file or a directory of files, watched for changes.

use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use wasmgate_config::{ConfigErrors, DynamicConfig, StaticConfig};

/// Where the dynamic configuration comes from.
#[derive(Debug, Clone)]
pub enum DynamicSource {
    /// A configuration given whole at start (the embedded default, or tests).
    Fixed(Box<DynamicConfig>),
    /// `providers.file.filename`.
    File(PathBuf),
    /// `providers.file.directory`: every .yml, .yaml and .toml file in it, merged.
    Directory(PathBuf),
}

impl DynamicSource {
    /// Reads and validates the configuration (against the static configuration when given, for
    /// entrypoint references). Blocking file I/O: call from a blocking thread.
    pub fn load(&self, static_cfg: Option<&StaticConfig>) -> Result<DynamicConfig, ConfigErrors> {
        match self {
            DynamicSource::Fixed(c) => {
                let errors = wasmgate_config::validate(static_cfg, c);
                if errors.is_empty() {
                    Ok((**c).clone())
                } else {
                    Err(ConfigErrors(errors))
                }
            }
            DynamicSource::File(p) | DynamicSource::Directory(p) => {
                wasmgate_config::load_dynamic_checked(p, static_cfg)
            }
        }
    }

    /// Starts watching the source; every change sends `()` on the returned channel.
    ///
    /// The parent directory of a file is watched, not the file, so editors that save by
    /// renaming a new file over the old one are seen too.
    pub fn watch(
        &self,
    ) -> notify::Result<Option<(notify::RecommendedWatcher, mpsc::Receiver<()>)>> {
        use notify::{RecursiveMode, Watcher};
        let (dir, only): (&Path, Option<PathBuf>) = match self {
            DynamicSource::Fixed(_) => return Ok(None),
            DynamicSource::File(p) => (
                p.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
                p.file_name().map(PathBuf::from),
            ),
            DynamicSource::Directory(d) => (d.as_path(), None),
        };
        let (tx, rx) = mpsc::channel(1);
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                return;
            }
            let relevant = match &only {
                Some(name) => ev
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str())),
                None => true,
            };
            if relevant {
                let _ = tx.try_send(());
            }
        })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(Some((watcher, rx)))
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            DynamicSource::Fixed(_) => "embedded configuration".to_owned(),
            DynamicSource::File(p) => p.display().to_string(),
            DynamicSource::Directory(d) => format!("{}/", d.display()),
        }
    }
}
