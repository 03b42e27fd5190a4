//! Makes `cargo build` work on a fresh clone: libduckdb-sys links the prebuilt
//! DuckDB library in $DUCKDB_LIB_DIR (set to `.duckdb/` by .cargo/config.toml), and
//! if it is missing we fetch the cargo target's with scripts/fetch-duckdb.sh (see
//! there for why).
//!
//! Where the binary finds the library at run time, without LD_LIBRARY_PATH: one
//! rpath for every build, `$ORIGIN/../lib/musicaly:/usr/lib/musicaly`.
//! - The Debian package installs `/usr/bin/musicaly` and
//!   `/usr/lib/musicaly/libduckdb.so`: the first entry finds it, and so it does in
//!   a tree extracted anywhere (`dpkg -x`); the second serves a packaged library
//!   with the binary copied elsewhere (e.g. /usr/local/bin).
//! - Cargo's binaries (`cargo run`, the tests' `CARGO_BIN_EXE_musicaly`) live in
//!   `<target>/<profile>/`, test binaries in `<target>/<profile>/deps/`: this
//!   script links the library into `<target>/lib/musicaly/` and
//!   `<target>/<profile>/lib/musicaly/`, so the same first entry finds it there.
//!
//! One rpath for all builds means the package is built from the very binary the
//! tests ran (no relink, no path of the build machine inside it), and `$ORIGIN`
//! first means a development binary never picks up an installed package's
//! (possibly older) library.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    println!("cargo:rerun-if-changed=scripts/fetch-duckdb.sh");
    let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") else {
        return;
    };
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let (platform, lib) = match (os.as_str(), arch.as_str()) {
        ("linux", "x86_64") => ("linux-x64", "libduckdb.so"),
        ("linux", "aarch64") => ("linux-arm64", "libduckdb.so"),
        ("macos", "x86_64") => ("darwin-x64", "libduckdb.dylib"),
        ("macos", "aarch64") => ("darwin-arm64", "libduckdb.dylib"),
        _ => panic!(
            "no prebuilt DuckDB library for target {arch}-{os}: DuckDB's npm builds cover \
             linux and macOS on x86_64 and aarch64"
        ),
    };
    if !Path::new(&dir).join(lib).exists() {
        let status = Command::new("bash")
            .arg("scripts/fetch-duckdb.sh")
            .arg(platform)
            .arg(&dir)
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!(
                "{lib} is missing from {dir} and `scripts/fetch-duckdb.sh {platform} {dir}` \
                 failed ({other:?}); run it by hand to see why (it needs npm)"
            ),
        }
    }
    if os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,@loader_path/../lib/musicaly");
    } else {
        println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/musicaly:/usr/lib/musicaly");
    }
    let library = std::fs::canonicalize(Path::new(&dir).join(lib))
        .unwrap_or_else(|e| panic!("{dir}/{lib}: {e}"));
    // OUT_DIR is <target>[/<triple>]/<profile>/build/musicaly-<hash>/out.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let Some(profile_dir) = out.ancestors().nth(3) else {
        panic!("unexpected OUT_DIR layout: {}", out.display());
    };
    for bin_dir in [profile_dir.to_path_buf(), profile_dir.join("deps")] {
        // `$ORIGIN/../lib/musicaly` of a binary in bin_dir.
        let Some(parent) = bin_dir.parent() else {
            continue;
        };
        link_library(&library, &parent.join("lib/musicaly").join(lib));
    }
}

/// Points `at` to `library` (a symlink, replaced when it points elsewhere).
fn link_library(library: &Path, at: &Path) {
    if std::fs::read_link(at).is_ok_and(|t| t == library) {
        return;
    }
    if let Some(d) = at.parent() {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    let _ = std::fs::remove_file(at);
    // Two builds sharing the target directory may race here: whoever wins, the
    // link points to the same kind of library.
    if let Err(e) = std::os::unix::fs::symlink(library, at) {
        if std::fs::read_link(at).is_err() {
            panic!("cannot link {} to {}: {e}", at.display(), library.display());
        }
    }
}
