//! Small helpers both sides use, written once.

use std::any::Any;
use std::time::Instant;

/// Milliseconds since `start`, as a float.
pub fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// The message of a caught panic (`std::panic::catch_unwind`, a panicked task's payload).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The first 12 characters of a hash, for messages; never splits a character (a peer's hash
/// may be anything).
pub fn short_hash(hash: &str) -> &str {
    hash.char_indices().nth(12).map_or(hash, |(i, _)| &hash[..i])
}

/// The median of finite values (the mean of the middle two for an even count); `None` when
/// there are none.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// `NAME=1x16,1x16`: a model name and one shape per input, dimensions joined by `x` (the
/// `--input-shape` option of `tandem edge` and `tandem bench`).
pub fn parse_input_shapes(s: &str) -> Result<(String, Vec<Vec<usize>>), String> {
    let (name, shapes) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected NAME=1x16[,1x16]"))?;
    let shapes = shapes
        .split(',')
        .map(|shape| {
            shape
                .split('x')
                .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("`{shape}` is not a shape like 1x16"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if name.is_empty() {
        return Err(format!("`{s}`: the model name is empty"));
    }
    Ok((name.to_string(), shapes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hashes_never_split_a_character() {
        assert_eq!(short_hash("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_hash("ééééééééééééééé"), "éééééééééééé");
        assert_eq!(short_hash("abc"), "abc");
    }

    #[test]
    fn medians_skip_non_finite_values() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 1.0]), Some(1.0));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn panic_messages_are_recovered() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).expect_err("panics");
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).expect_err("panics");
        assert_eq!(panic_message(&*p), "static");
    }
}
