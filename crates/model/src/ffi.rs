//! UniFFI support (feature `uniffi`): what the bindings need that a derive cannot say.

// Sizes, dimensions and cut ids are `usize` in Rust; foreign languages get a u64 (`ULong` in
// Kotlin, `UInt64` in Swift). A value that does not fit this platform's `usize` (possible on
// 32-bit ARM) fails to lift instead of being truncated. Crates that use it declare
// `uniffi::use_remote_type!(tandem_model::usize);`.
uniffi::custom_type!(usize, u64, {
    remote,
    lower: |v| v as u64,
    try_lift: |v| Ok(usize::try_from(v)?),
});
