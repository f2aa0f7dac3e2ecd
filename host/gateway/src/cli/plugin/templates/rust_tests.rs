
#[cfg(test)]
mod tests {
    use super::Settings;
    use wasmgate_plugin_sdk::parse_settings;

    #[test]
    fn settings_have_defaults_and_refuse_unknown_keys() {
        assert_eq!(parse_settings::<Settings>("").unwrap(), Settings::default());
        let s: Settings = parse_settings(r#"{"header": "x-a", "value": "b"}"#).unwrap();
        assert_eq!((s.header.as_str(), s.value.as_str()), ("x-a", "b"));
        let err = parse_settings::<Settings>(r#"{"hedaer": "x"}"#).unwrap_err();
        assert!(err.contains("hedaer"), "{err}");
    }
}
