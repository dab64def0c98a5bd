//! The UniFFI binding generator, pinned to the UniFFI version of `tandem-bindings`.
//!
//! Run in library mode on the host-built cdylib (see `bindings/scripts/generate.sh`):
//! `cargo run -p tandem-uniffi-bindgen -- generate --library target/debug/libtandem_ffi.so
//! --language kotlin --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
