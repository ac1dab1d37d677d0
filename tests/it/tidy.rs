//! Tidy checks on the source tree: every module says what it owns, and HTTP stays in `http/`.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 20);
    files
}

#[test]
fn every_module_starts_with_a_doc_saying_what_it_owns() {
    for file in src_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let is_test_file = file.file_name().is_some_and(|n| n == "tests.rs");
        assert!(text.starts_with("//!") || is_test_file, "{} lacks a //! module doc", file.display());
    }
}

#[test]
fn only_http_touches_axum() {
    for file in src_files() {
        let relative = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().to_string_lossy().into_owned();
        if relative.starts_with("src/http/") || relative.starts_with("src/admin/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("axum::") && !text.contains("use axum"), "{relative} uses axum");
    }
}

#[test]
fn only_the_clock_reads_wall_time() {
    for file in src_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        if file.ends_with("clock.rs") {
            continue;
        }
        assert!(
            !text.contains("SystemTime::now") && !text.contains("Instant::now"),
            "{} reads the clock",
            file.display()
        );
    }
}

/// Admin routes are added through `Routes::add` (behind the guard); the only `.route(` calls are the open ones
/// in `src/admin/mod.rs`, listed here.
#[test]
fn admin_routes_go_through_the_guard() {
    let open = ["\"/healthz\"", "METRICS_PATH", "\"/admin/v1/providers\"", "\"/admin/v1/session\""];
    for file in src_files() {
        let relative = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().to_string_lossy().into_owned();
        if !relative.starts_with("src/admin/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, _) in text.match_indices(".route(") {
            let call = &text[index..text[index..].find(',').map_or(text.len(), |end| index + end)];
            let in_guard = relative == "src/admin/mod.rs" && call.contains(".route(path");
            let listed = relative == "src/admin/mod.rs" && open.iter().any(|path| call.contains(path));
            assert!(in_guard || listed, "{relative}: {call} bypasses Routes::add and its guard");
        }
    }
}
