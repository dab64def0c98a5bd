//! The UniFFI binding generator, pinned to the same UniFFI version as the library.
//!
//! Run in library mode on the host-built cdylib (see `bindings/scripts/generate.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
