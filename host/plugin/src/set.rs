//! Hot reload: a [`PluginSet`] keyed by name that, given the new list of
//! specs, keeps unchanged plugins (with their instances and state), loads
//! new or changed ones, and drops removed ones.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache;
use crate::error::PluginError;
use crate::plugin::{Fingerprint, Plugin};
use crate::runtime::PluginRuntime;
use crate::spec::PluginSpec;

/// What a reload did, by plugin name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Unchanged plugins kept with their instances.
    pub kept: Vec<String>,
    /// New or changed plugins loaded.
    pub loaded: Vec<String>,
    /// Plugins no longer configured.
    pub removed: Vec<String>,
}

/// An immutable set of loaded plugins. A reload builds a new set from the
/// previous one, so the gateway can publish it atomically with its config.
#[derive(Clone, Default)]
pub struct PluginSet {
    plugins: HashMap<String, Arc<Plugin>>,
}

impl PluginSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plugin with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    /// The names of the plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.plugins.keys().cloned().collect();
        v.sort();
        v
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Builds the set for `specs`, reusing from `self` every plugin whose
    /// fingerprint (wasm content hash, settings, limits, grants, world) is
    /// unchanged. Fails as a whole on the first plugin that fails to load
    /// (or on a duplicate name), leaving `self` untouched and serving.
    pub async fn reload(
        &self,
        runtime: &PluginRuntime,
        specs: Vec<PluginSpec>,
    ) -> Result<(PluginSet, ReloadReport), PluginError> {
        let mut next = HashMap::with_capacity(specs.len());
        let mut report = ReloadReport::default();
        for spec in specs {
            if next.contains_key(&spec.name) {
                return Err(PluginError::Config {
                    plugin: spec.name.clone(),
                    message: "defined twice".into(),
                });
            }
            let bytes = runtime.read_wasm(&spec.name, &spec.wasm).await?;
            let sha = {
                let b = bytes.clone();
                tokio::task::spawn_blocking(move || cache::content_hash(&b))
                    .await
                    .map_err(|e| PluginError::Engine(e.to_string()))?
            };
            let fingerprint = Fingerprint::of(&spec, sha.clone());
            let name = spec.name.clone();
            match self.plugins.get(&name) {
                Some(old) if *old.fingerprint() == fingerprint => {
                    report.kept.push(name.clone());
                    next.insert(name, old.clone());
                }
                _ => {
                    let plugin = runtime.load_bytes(spec, bytes, sha).await?;
                    report.loaded.push(name.clone());
                    next.insert(name, plugin);
                }
            }
        }
        report.removed = self
            .plugins
            .keys()
            .filter(|n| !next.contains_key(*n))
            .cloned()
            .collect();
        report.kept.sort();
        report.loaded.sort();
        report.removed.sort();
        Ok((PluginSet { plugins: next }, report))
    }
}
