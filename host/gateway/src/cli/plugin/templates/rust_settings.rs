/// The plugin's settings; every field is optional.
#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The header name.
    header: String,
    /// Its value.
    value: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header: "x-hello".to_owned(),
            value: "hello from {{name}}".to_owned(),
        }
    }
}
