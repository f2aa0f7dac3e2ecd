//! Parsing YAML and TOML text into a generic tree plus an index from key path to line:column.
//!
//! Both formats are first read into a `serde_json::Value` (so that typed deserialization,
//! error recovery and key-case folding work the same for both) and, in the same pass, into
//! a [`LocationIndex`] that maps every key path to the position of its key in the text.
//! Validation errors found after deserialization are located through that index.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One step of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `http.routers.api.rule` or `http.services.s.loadBalancer.servers[0].url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a key.
    pub(crate) fn key(&self, key: impl Into<String>) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.into()));
        KeyPath(segs)
    }

    /// This path extended by a sequence index.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    /// A path from dotted keys (no indices), e.g. `["http", "routers", name]`.
    pub(crate) fn of(keys: &[&str]) -> Self {
        KeyPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }

    pub(crate) fn parent(&self) -> KeyPath {
        let mut segs = self.0.clone();
        segs.pop();
        KeyPath(segs)
    }

    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Position of every key (and sequence item) of one document.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocationIndex {
    entries: HashMap<Vec<Seg>, Pos>,
}

impl LocationIndex {
    fn insert(&mut self, path: Vec<Seg>, pos: Pos) {
        self.entries.entry(path).or_insert(pos);
    }

    /// Position of `path`, or of its closest located ancestor. Keys are compared exactly
    /// first, then ignoring ASCII case (keys are case-insensitive, as in Traefik).
    pub(crate) fn locate(&self, path: &KeyPath) -> Option<Pos> {
        let mut segs = path.0.clone();
        loop {
            if segs.is_empty() {
                return None;
            }
            if let Some(pos) = self.entries.get(&segs) {
                return Some(*pos);
            }
            if let Some(pos) = self.locate_folded(&segs) {
                return Some(pos);
            }
            segs.pop();
        }
    }

    /// True when `path` itself (not just an ancestor) is in the index.
    pub(crate) fn has(&self, path: &KeyPath) -> bool {
        self.entries.contains_key(&path.0) || self.locate_folded(&path.0).is_some()
    }

    fn locate_folded(&self, segs: &[Seg]) -> Option<Pos> {
        self.entries
            .iter()
            .find(|(k, _)| {
                k.len() == segs.len()
                    && k.iter().zip(segs).all(|(a, b)| match (a, b) {
                        (Seg::Key(a), Seg::Key(b)) => a.eq_ignore_ascii_case(b),
                        _ => a == b,
                    })
            })
            .map(|(_, p)| *p)
    }
}

/// A parsed document: the generic value and where its keys are.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub(crate) value: Value,
    pub(crate) index: LocationIndex,
}

/// A syntax error: message and position.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) pos: Option<Pos>,
}

/// True when the text holds nothing but blank lines, comments and document markers.
fn is_blank_document(text: &str) -> bool {
    text.lines().all(|line| {
        let t = line.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

// ---------------------------------------------------------------------------------------
// YAML

/// A YAML node read with locations: the value, and the positions of its descendants
/// relative to it.
struct YNode {
    value: Value,
    children: Vec<(Vec<Seg>, Pos)>,
}

fn pos_of(loc: &serde_saphyr::Location) -> Option<Pos> {
    let line = usize::try_from(loc.line()).ok()?;
    let column = usize::try_from(loc.column()).ok()?;
    (line > 0).then_some(Pos { line, column })
}

/// A mapping key of any scalar type, read as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for YNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn leaf(value: Value) -> YNode {
            YNode {
                value,
                children: Vec::new(),
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = YNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<YNode, E> {
                Ok(leaf(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<YNode, E> {
                Ok(leaf(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<YNode, E> {
                Ok(leaf(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<YNode, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| leaf(Value::Number(n)))
                    .ok_or_else(|| E::custom(format!("unsupported number `{v}`")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<YNode, E> {
                Ok(leaf(Value::String(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<YNode, E> {
                Ok(leaf(Value::String(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<YNode, E> {
                Ok(leaf(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<YNode, E> {
                Ok(leaf(Value::Null))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<YNode, D2::Error> {
                YNode::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YNode, A::Error> {
                let mut items = Vec::new();
                let mut children = Vec::new();
                while let Some(item) = seq.next_element::<serde_saphyr::Spanned<YNode>>()? {
                    let i = items.len();
                    if let Some(pos) = pos_of(&item.referenced) {
                        children.push((vec![Seg::Index(i)], pos));
                    }
                    for (mut path, pos) in item.value.children {
                        path.insert(0, Seg::Index(i));
                        children.push((path, pos));
                    }
                    items.push(item.value.value);
                }
                Ok(YNode {
                    value: Value::Array(items),
                    children,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YNode, A::Error> {
                let mut object = Map::new();
                let mut children = Vec::new();
                while let Some(key) = map.next_key::<serde_saphyr::Spanned<KeyText>>()? {
                    let value: YNode = map.next_value()?;
                    let name = key.value.0;
                    if let Some(pos) = pos_of(&key.referenced) {
                        children.push((vec![Seg::Key(name.clone())], pos));
                    }
                    for (mut path, pos) in value.children {
                        path.insert(0, Seg::Key(name.clone()));
                        children.push((path, pos));
                    }
                    object.insert(name, value.value);
                }
                Ok(YNode {
                    value: Value::Object(object),
                    children,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses YAML text. An empty document (or one with only comments) is an empty mapping.
pub(crate) fn parse_yaml(text: &str) -> Result<Parsed, SyntaxError> {
    if is_blank_document(text) {
        return Ok(Parsed {
            value: Value::Object(Map::new()),
            index: LocationIndex::default(),
        });
    }
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<YNode>(text, options) {
        Ok(node) => {
            let mut index = LocationIndex::default();
            for (path, pos) in node.children {
                index.insert(path, pos);
            }
            Ok(Parsed {
                value: node.value,
                index,
            })
        }
        Err(err) => {
            use serde_saphyr::MessageFormatter;
            let message = serde_saphyr::DefaultMessageFormatter
                .format_message(&err)
                .into_owned();
            Err(SyntaxError {
                message: format!("invalid YAML: {message}"),
                pos: err.location().as_ref().and_then(pos_of),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// TOML

/// Byte offset to line:column conversion for one text.
struct LineStarts<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineStarts<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineStarts { text, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = offset.min(self.text.len());
        let column = self
            .text
            .get(start..end)
            .map_or(end - start, |s| s.chars().count())
            + 1;
        Pos { line, column }
    }
}

fn toml_value(
    value: &toml::de::DeValue<'_>,
    path: &mut Vec<Seg>,
    lines: &LineStarts<'_>,
    index: &mut LocationIndex,
) -> Result<Value, SyntaxError> {
    use toml::de::DeValue;
    Ok(match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Integer(i) => {
            if let Ok(n) = i64::from_str_radix(i.as_str(), i.radix()) {
                Value::from(n)
            } else if let Ok(n) = u64::from_str_radix(i.as_str(), i.radix()) {
                Value::from(n)
            } else {
                return Err(SyntaxError {
                    message: format!("integer `{i}` is out of range"),
                    pos: index.locate(&KeyPath(path.clone())),
                });
            }
        }
        DeValue::Float(f) => {
            let parsed = f.as_str().parse::<f64>().ok();
            match parsed.and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(SyntaxError {
                        message: format!("unsupported number `{}`", f.as_str()),
                        pos: index.locate(&KeyPath(path.clone())),
                    });
                }
            }
        }
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                index.insert(path.clone(), lines.pos(item.span().start));
                let v = toml_value(item.get_ref(), path, lines, index);
                path.pop();
                out.push(v?);
            }
            Value::Array(out)
        }
        DeValue::Table(table) => {
            let mut out = Map::new();
            for (key, item) in table.iter() {
                path.push(Seg::Key(key.get_ref().to_string()));
                index.insert(path.clone(), lines.pos(key.span().start));
                let v = toml_value(item.get_ref(), path, lines, index);
                path.pop();
                out.insert(key.get_ref().to_string(), v?);
            }
            Value::Object(out)
        }
    })
}

/// Parses TOML text. An empty document is an empty table.
pub(crate) fn parse_toml(text: &str) -> Result<Parsed, SyntaxError> {
    let lines = LineStarts::new(text);
    let table = toml::de::DeTable::parse(text).map_err(|err| SyntaxError {
        message: format!("invalid TOML: {}", err.message().trim_end()),
        pos: err.span().map(|s| lines.pos(s.start)),
    })?;
    let mut index = LocationIndex::default();
    let value = toml_value(
        &toml::de::DeValue::Table(table.into_inner()),
        &mut Vec::new(),
        &lines,
        &mut index,
    )?;
    Ok(Parsed { value, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_index_points_at_keys() {
        let text = "http:\n  routers:\n    api:\n      rule: \"Host(`a`)\"\n      entryPoints:\n        - web\n";
        let parsed = parse_yaml(text).unwrap();
        let at = |p: &[&str]| parsed.index.locate(&KeyPath::of(p)).unwrap();
        assert_eq!(at(&["http"]), Pos { line: 1, column: 1 });
        assert_eq!(
            at(&["http", "routers", "api", "rule"]),
            Pos { line: 4, column: 7 }
        );
        let item = parsed
            .index
            .locate(&KeyPath::of(&["http", "routers", "api", "entryPoints"]).index(0))
            .unwrap();
        assert_eq!(item.line, 6);
        // Unknown descendants fall back to the closest ancestor.
        assert_eq!(at(&["http", "routers", "api", "nope"]).line, 3);
        // Case-insensitive fallback.
        assert_eq!(at(&["HTTP", "Routers"]).line, 2);
        assert_eq!(
            parsed.value["http"]["routers"]["api"]["entryPoints"][0],
            "web"
        );
    }

    #[test]
    fn yaml_anchors_and_merge_keys() {
        let text = "base: &base\n  rule: \"Path(`/`)\"\n  service: s\nrouters:\n  a:\n    <<: *base\n    priority: 3\n  b: *base\n";
        let parsed = parse_yaml(text).unwrap();
        let v = &parsed.value["routers"];
        assert_eq!(v["a"]["rule"], "Path(`/`)");
        assert_eq!(v["a"]["priority"], 3);
        assert_eq!(v["b"]["service"], "s");
        assert_eq!(
            parsed
                .index
                .locate(&KeyPath::of(&["routers", "a", "priority"]))
                .map(|p| p.line),
            Some(7)
        );
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let err = parse_yaml("http:\n  routers: [\n    a: \"unterminated\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
    }

    #[test]
    fn yaml_duplicate_keys_are_rejected() {
        let err = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(2), "{err:?}");
    }

    #[test]
    fn toml_index_points_at_keys() {
        let text = "[http.routers.api]\nrule = \"Host(`a`)\"\nentryPoints = [\"web\"]\n\n[[http.services.s.loadBalancer.servers]]\nurl = \"http://x\"\n";
        let parsed = parse_toml(text).unwrap();
        let at = |p: &KeyPath| parsed.index.locate(p).unwrap();
        assert_eq!(
            at(&KeyPath::of(&["http", "routers", "api", "rule"])),
            Pos { line: 2, column: 1 }
        );
        let url = KeyPath::of(&["http", "services", "s", "loadBalancer", "servers"])
            .index(0)
            .key("url");
        assert_eq!(at(&url).line, 6);
        assert_eq!(
            parsed.value["http"]["routers"]["api"]["entryPoints"][0],
            "web"
        );
    }

    #[test]
    fn toml_syntax_error_has_position() {
        let err = parse_toml("[http]\nrouters = {\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
    }

    #[test]
    fn blank_documents_are_empty() {
        assert_eq!(
            parse_yaml("# nothing\n\n").unwrap().value,
            Value::Object(Map::new())
        );
        assert_eq!(parse_toml("").unwrap().value, Value::Object(Map::new()));
    }
}
