//! Makes `cargo build` work on a fresh clone: libduckdb-sys links the prebuilt
//! libduckdb.so in $DUCKDB_LIB_DIR (set to `.duckdb/` by .cargo/config.toml), and
//! if it is missing we fetch it with scripts/fetch-duckdb.sh (see there for why).
//! Also adds an rpath so the binary finds the library without LD_LIBRARY_PATH.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    println!("cargo:rerun-if-changed=scripts/fetch-duckdb.sh");
    let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") else {
        return;
    };
    if !Path::new(&dir).join("libduckdb.so").exists() {
        let status = Command::new("bash").arg("scripts/fetch-duckdb.sh").status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!(
                "libduckdb.so is missing from {dir} and scripts/fetch-duckdb.sh failed ({other:?}); \
                 run it by hand to see why (it needs npm)"
            ),
        }
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
}
