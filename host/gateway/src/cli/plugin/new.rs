//! `wasmgate plugin new`: scaffold a plugin from the templates in `templates/`.

use super::{Lang, TemplateWorld, check_name, source_root, wit_version};
use anyhow::{Context, Result, bail};
use std::path::{Component, Path, PathBuf};

const PLUGIN_TOML: &str = include_str!("templates/plugin.toml");
const README: &str = include_str!("templates/README.md");
const GITIGNORE: &str = include_str!("templates/gitignore");
const RUST_CARGO: &str = include_str!("templates/rust_Cargo.toml");
const RUST_SETTINGS: &str = include_str!("templates/rust_settings.rs");
const RUST_TESTS: &str = include_str!("templates/rust_tests.rs");
const RUST_MIDDLEWARE: &str = include_str!("templates/rust_http-middleware.rs");
const RUST_MATCHER: &str = include_str!("templates/rust_route-matcher.rs");
const GO_MOD: &str = include_str!("templates/go_go.mod");
const GO_SETTINGS: &str = include_str!("templates/go_settings.go");
const GO_SETTINGS_TEST: &str = include_str!("templates/go_settings_test.go");
const GO_MIDDLEWARE: &str = include_str!("templates/go_http-middleware.go");
const GO_MATCHER: &str = include_str!("templates/go_route-matcher.go");
const JS_PACKAGE: &str = include_str!("templates/js_package.json");
const JS_SETTINGS: &str = include_str!("templates/js_settings.js");
const JS_SETTINGS_TEST: &str = include_str!("templates/js_settings.test.mjs");
const JS_MIDDLEWARE: &str = include_str!("templates/js_http-middleware.js");
const JS_MATCHER: &str = include_str!("templates/js_route-matcher.js");

/// Creates the plugin's folder and files.
#[allow(clippy::print_stdout)]
pub(super) fn new(
    name: &str,
    lang: Lang,
    dir: Option<PathBuf>,
    world: TemplateWorld,
    sdk: Option<PathBuf>,
) -> Result<()> {
    check_name(name)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        bail!("{} already exists and is not empty", dir.display());
    }
    let sdk = sdk.unwrap_or_else(|| source_root().join("sdk").join(lang.sdk_folder()));
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the {} SDK is not at {} (pass --sdk PATH)",
            lang.manifest_name(),
            sdk.display()
        )
    })?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let abs_dir = dir.canonicalize()?;
    let sdk_ref = relative_to(&sdk, &abs_dir);
    let is_matcher = world == TemplateWorld::RouteMatcher;
    let description = if is_matcher {
        "Matches requests whose header `header` equals `value`."
    } else {
        "Sets the header `header` to `value` on requests and responses."
    };
    let (build, test) = match lang {
        Lang::Rust => (
            format!(
                "cargo build --release --target wasm32-wasip2   # target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            "cargo test".to_owned(),
        ),
        Lang::Go => (
            format!(
                "{sdk_ref}/build.sh . plugin.wasm   # GO, WIT_BINDGEN, WASM_TOOLS, WASI_ADAPTER: see the SDK's README"
            ),
            "go test .".to_owned(),
        ),
        Lang::Js => (
            format!("npm run build   # ../{name}.wasm"),
            "npm test".to_owned(),
        ),
    };
    let usage = if is_matcher {
        format!("http:\n  routers:\n    r:\n      rule: \"Plugin(`{name}`)\"\n      service: s\n")
    } else {
        format!(
            "http:\n  middlewares:\n    {name}:\n      plugin:\n        {name}: {{ header: x-hello }}\n"
        )
    };
    let fill = |template: &str| {
        template
            .replace("{{settings}}", RUST_SETTINGS)
            .replace("{{tests}}", RUST_TESTS)
            .replace("{{description}}", description)
            .replace("{{name}}", name)
            .replace("{{world}}", world.as_str())
            .replace("{{wit}}", wit_version())
            .replace("{{language}}", lang.manifest_name())
            .replace("{{sdk}}", &sdk_ref)
            .replace("{{build}}", &build)
            .replace("{{test}}", &test)
            .replace("{{usage}}", &usage)
    };
    let mut files: Vec<(&str, String)> = vec![
        ("plugin.toml", fill(PLUGIN_TOML)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml", fill(RUST_CARGO)));
            let lib = if is_matcher {
                RUST_MATCHER
            } else {
                RUST_MIDDLEWARE
            };
            files.push(("src/lib.rs", fill(lib)));
        }
        Lang::Go => {
            files.push(("go.mod", fill(GO_MOD)));
            let main = if is_matcher {
                GO_MATCHER
            } else {
                GO_MIDDLEWARE
            };
            files.push(("main.go", fill(main)));
            files.push(("settings.go", fill(GO_SETTINGS)));
            files.push(("settings_test.go", fill(GO_SETTINGS_TEST)));
        }
        Lang::Js => {
            files.push(("package.json", fill(JS_PACKAGE)));
            let index = if is_matcher {
                JS_MATCHER
            } else {
                JS_MIDDLEWARE
            };
            files.push(("index.js", fill(index)));
            files.push(("settings.js", fill(JS_SETTINGS)));
            files.push(("settings.test.mjs", fill(JS_SETTINGS_TEST)));
        }
    }
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "created {} ({} {} plugin `{name}`, SDK {})",
        dir.display(),
        lang.manifest_name(),
        world.as_str(),
        sdk_ref
    );
    println!("next: wasmgate plugin build {}", dir.display());
    Ok(())
}

/// `target` relative to `base` (both absolute) when they share more than the root, else
/// `target` itself.
fn relative_to(target: &Path, base: &Path) -> String {
    let t: Vec<Component<'_>> = target.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return target.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}
