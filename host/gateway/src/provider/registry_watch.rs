//! Watches the plugin registry folders, so a version published there reaches a gateway whose
//! configuration asks for `name@latest` at once, not only on its next reload.

use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::plugins::PluginHost;

/// Signals `tx` when something changes under a registry folder while the live configuration
/// uses a `name@latest` source. The watcher stops when it is dropped. Folders that do not
/// exist are skipped with a warning.
pub fn watch(
    plugins: Arc<PluginHost>,
    tx: mpsc::Sender<()>,
) -> notify::Result<Option<notify::RecommendedWatcher>> {
    if plugins.registries().is_empty() {
        return Ok(None);
    }
    let host = plugins.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) || !host.wants_latest() {
            return;
        }
        let _ = tx.try_send(());
    })?;
    for reg in plugins.registries() {
        match watcher.watch(reg, RecursiveMode::Recursive) {
            Ok(()) => {}
            Err(e) => tracing::warn!(
                registry = %reg.display(),
                error = %e,
                "cannot watch the plugin registry folder; `@latest` plugins update on reload only"
            ),
        }
    }
    Ok(Some(watcher))
}
