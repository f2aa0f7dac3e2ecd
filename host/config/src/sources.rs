//! Which file (and where in it) each part of a merged configuration came from.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{ConfigError, Issue};
use crate::locate::{KeyPath, LocationIndex, Seg};

/// One loaded file.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) index: LocationIndex,
}

/// Sources of a (possibly merged) configuration, used to locate errors found after loading.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    files: Vec<SourceFile>,
    /// Owner file of each named entry (`http.routers.<name>`, `tls.options.<name>`, …).
    owners: HashMap<KeyPath, usize>,
    /// Origin (file, index in that file) of each merged `tls.certificates` item.
    certificates: Vec<(usize, usize)>,
}

/// Number of leading segments naming an entry: `http.routers.<name>`.
const ENTRY_DEPTH: usize = 3;

impl SourceMap {
    /// Adds a file and returns its number.
    pub(crate) fn add_file(&mut self, file: SourceFile) -> usize {
        self.files.push(file);
        self.files.len() - 1
    }

    pub(crate) fn file_path(&self, file: usize) -> &std::path::Path {
        &self.files[file].path
    }

    /// Records that `entry` (e.g. `http.routers.api`) comes from `file`.
    pub(crate) fn set_owner(&mut self, entry: KeyPath, file: usize) {
        self.owners.insert(entry, file);
    }

    /// The file `entry` comes from, if recorded.
    pub(crate) fn owner(&self, entry: &KeyPath) -> Option<usize> {
        self.owners.get(entry).copied()
    }

    /// Records the origin of the next merged certificate.
    pub(crate) fn push_certificate(&mut self, file: usize, local_index: usize) {
        self.certificates.push((file, local_index));
    }

    /// Locates `issue` in the file its key path comes from.
    pub(crate) fn locate(&self, issue: Issue) -> ConfigError {
        let (file, lookup) = self.resolve(&issue.path);
        let pos = file.and_then(|f| self.files[f].index.locate(&lookup));
        ConfigError {
            file: file.map(|f| self.files[f].path.clone()),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            key_path: issue.path.to_string(),
            message: issue.message,
            suggestion: issue.suggestion,
        }
    }

    /// The file of `path` and the path to look up in that file's index.
    fn resolve(&self, path: &KeyPath) -> (Option<usize>, KeyPath) {
        let segs = &path.0;
        if let [Seg::Key(tls), Seg::Key(certs), Seg::Index(i), ..] = segs.as_slice()
            && tls == "tls"
            && certs == "certificates"
            && let Some(&(file, local)) = self.certificates.get(*i)
        {
            let mut local_path = segs.clone();
            local_path[2] = Seg::Index(local);
            return (Some(file), KeyPath(local_path));
        }
        if segs.len() >= ENTRY_DEPTH {
            let entry = KeyPath(segs[..ENTRY_DEPTH].to_vec());
            if let Some(file) = self.owner(&entry) {
                return (Some(file), path.clone());
            }
        }
        // Not a named entry (or a single file): the first file that has the path, else the
        // only file.
        if let Some(file) = (0..self.files.len()).find(|&f| self.files[f].index.has(path)) {
            return (Some(file), path.clone());
        }
        ((!self.files.is_empty()).then_some(0), path.clone())
    }
}
