//! Bounded reading of the JSON part of a message.
//!
//! The structure of a request (names, shapes, parameters) is read into small typed structs
//! whose lists are capped; every tensor's `data` and every parameter value stays raw text
//! borrowed from the body until the decoder has checked the tensor's name, dtype and shape
//! against the model. Only then is `data` parsed, element by element, straight into a
//! buffer of the tensor's size ([`parse_data`]). So decoding never builds a
//! `serde_json::Value` tree: its memory is the body itself plus the declared tensors (each
//! at most the size the model gives it) plus a few bytes per name, dimension and parameter.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use tandem_model::encoding;
use tandem_model::DType;

/// Most entries of `inputs` or `outputs` a message may list.
pub const MAX_TENSORS: usize = 4096;
/// Most dimensions a tensor's `shape` may have.
pub const MAX_DIMS: usize = 32;
/// Most entries of one `parameters` object.
pub const MAX_PARAMETERS: usize = 256;

/// A JSON array of at most `MAX` entries: a longer one is refused while it is read.
pub(crate) struct Bounded<T, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Bounded<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = Bounded<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {MAX} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX).min(64));
                while let Some(item) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(de::Error::custom(format!("more than {MAX} entries in an array")));
                    }
                    out.push(item);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData))
    }
}

/// A `parameters` object: names to their raw JSON text. Only the values the decoder reads
/// are parsed, each into the type it must have.
#[derive(Default)]
pub(crate) struct Params<'a>(BTreeMap<String, &'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Params<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an object of at most {MAX_PARAMETERS} parameters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, &'a RawValue>()? {
                    if out.len() == MAX_PARAMETERS {
                        return Err(de::Error::custom(format!("more than {MAX_PARAMETERS} parameters")));
                    }
                    out.insert(key, value);
                }
                Ok(Params(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

impl<'a> Params<'a> {
    /// The parameter names.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether the parameter is present.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The parameter read as a `T`: `None` when absent, `Some(Err(raw text, shortened))`
    /// when it is not a `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, String>> {
        let raw = self.0.get(key)?;
        Some(serde_json::from_str(raw.get()).map_err(|_| shorten(raw.get())))
    }
}

/// A value quoted in an error message, cut to a few dozen characters: error messages go
/// back to the client and must not echo megabytes.
pub(crate) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// One tensor of a request's `inputs` or a response's `outputs`, its `data` still raw.
#[derive(Deserialize)]
pub(crate) struct TensorJson<'a> {
    pub name: String,
    pub shape: Bounded<i64, MAX_DIMS>,
    pub datatype: String,
    #[serde(default, borrow)]
    pub parameters: Option<Params<'a>>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
}

/// One entry of a request's `outputs`.
#[derive(Deserialize)]
pub(crate) struct OutputRequestJson<'a> {
    pub name: String,
    #[serde(default, borrow)]
    pub parameters: Option<Params<'a>>,
}

/// An inference request's JSON part.
#[derive(Deserialize)]
pub(crate) struct RequestJson<'a> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, borrow)]
    pub parameters: Option<Params<'a>>,
    #[serde(borrow)]
    pub inputs: Bounded<TensorJson<'a>, MAX_TENSORS>,
    #[serde(default, borrow)]
    pub outputs: Option<Bounded<OutputRequestJson<'a>, MAX_TENSORS>>,
}

/// Parses a tensor's JSON `data` into little-endian bytes of `dtype`, for a tensor of
/// `shape` (already checked). `data` is either flat (every element, row-major) or nested
/// along the shape: at each level an array holds either the flat elements of the
/// remaining dimensions or exactly as many arrays as the dimension says. Memory: the
/// returned buffer, never more than the shape's size.
pub(crate) fn parse_data(data: &RawValue, dtype: DType, shape: &[usize]) -> Result<Vec<u8>, String> {
    let text = data.get();
    if !text.trim_start().starts_with('[') {
        return Err("`data` must be an array".into());
    }
    let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("the shape overflows")?;
    // Each element takes at least two characters of text: capacity never exceeds what the
    // text can fill, even when the shape comes from an untrusted peer.
    let capacity = elements.min(text.len() / 2 + 1).saturating_mul(dtype.size_bytes());
    let mut sink = Sink { dtype, shape, elements, count: 0, out: Vec::with_capacity(capacity) };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed =
        Level { dims: shape, top: true, sink: &mut sink }.deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = parsed {
        return Err(strip_position(e));
    }
    if sink.count != elements {
        return Err(format!("`data` has {} elements, its shape needs {elements}", sink.count));
    }
    Ok(sink.out)
}

/// serde_json's message without its " at line 1 column N" suffix (positions in the `data`
/// text alone would mislead).
fn strip_position(e: serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Where parsed elements go.
struct Sink<'s> {
    dtype: DType,
    shape: &'s [usize],
    elements: usize,
    count: usize,
    out: Vec<u8>,
}

/// One element's JSON value, for [`Sink::push`].
enum Scalar<'v> {
    Float(f64),
    Int(i128),
    Bool(bool),
    Null,
    Other(&'v str),
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Null => write!(f, "null"),
            Scalar::Other(what) => write!(f, "{}", shorten(what)),
        }
    }
}

impl Sink<'_> {
    fn push<E: de::Error>(&mut self, v: Scalar<'_>) -> Result<(), E> {
        if self.count == self.elements {
            return Err(E::custom(format!(
                "`data` has more than the {} elements of its shape",
                self.elements
            )));
        }
        self.write(&v).map_err(|reason| E::custom(format!("data element {} ({v}) {reason}", self.count)))?;
        self.count += 1;
        Ok(())
    }

    fn write(&mut self, v: &Scalar<'_>) -> Result<(), &'static str> {
        fn int<T: TryFrom<i128>>(v: &Scalar<'_>) -> Result<T, &'static str> {
            const NOT_INT: &str = "is not an integer in the datatype's range";
            match v {
                Scalar::Int(i) => T::try_from(*i).map_err(|_| NOT_INT),
                _ => Err(NOT_INT),
            }
        }
        let float = |v: &Scalar<'_>| -> Result<f64, &'static str> {
            match v {
                Scalar::Float(x) => Ok(*x),
                Scalar::Int(i) => Ok(*i as f64),
                Scalar::Null => Ok(f64::NAN),
                _ => Err("is not a number"),
            }
        };
        let out = &mut self.out;
        match self.dtype {
            DType::Fp32 => {
                let x = float(v)?;
                if x.is_finite() && (x as f32).is_infinite() {
                    return Err("is outside the FP32 range");
                }
                out.extend((x as f32).to_le_bytes());
            }
            DType::Fp16 => {
                let x = float(v)? as f32;
                let bytes = encoding::f32_to_f16_bytes("", &[x]).map_err(|_| "is outside the FP16 range")?;
                out.extend(bytes);
            }
            DType::Fp64 => out.extend(float(v)?.to_le_bytes()),
            DType::Int8 => out.extend(int::<i8>(v)?.to_le_bytes()),
            DType::Uint8 => out.extend(int::<u8>(v)?.to_le_bytes()),
            DType::Int16 => out.extend(int::<i16>(v)?.to_le_bytes()),
            DType::Int32 => out.extend(int::<i32>(v)?.to_le_bytes()),
            DType::Int64 => out.extend(int::<i64>(v)?.to_le_bytes()),
            DType::Bool => match v {
                Scalar::Bool(b) => out.push(u8::from(*b)),
                _ => return Err("is not true or false"),
            },
        }
        Ok(())
    }
}

/// One array of `data`, holding the dimensions `dims` of the tensor.
struct Level<'l, 's> {
    dims: &'l [usize],
    top: bool,
    sink: &'l mut Sink<'s>,
}

impl<'de> DeserializeSeed<'de> for Level<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// What an entry of an array of `data` was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Nested,
}

impl<'de> Visitor<'de> for Level<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let flat: usize = self.dims.iter().product();
        let mut kind = None;
        let mut n = 0usize;
        let mismatch = |shape: &[usize]| {
            de::Error::custom(format!("the nesting of `data` does not match the shape {shape:?}"))
        };
        loop {
            let item = Item { dims: self.dims, sink: &mut *self.sink };
            let Some(k) = seq.next_element_seed(item)? else { break };
            if *kind.get_or_insert(k) != k {
                return Err(mismatch(self.sink.shape));
            }
            n += 1;
            // A nested level holds exactly its dimension; a flat one its elements (the top
            // level's count is checked against the whole shape by the sink).
            let limit = if k == Kind::Nested { self.dims[0] } else { flat };
            if n > limit && !(self.top && k == Kind::Scalar) {
                return Err(mismatch(self.sink.shape));
            }
        }
        let expected = match kind {
            Some(Kind::Nested) => self.dims[0],
            _ => flat,
        };
        if n != expected && !self.top {
            return Err(mismatch(self.sink.shape));
        }
        if n != expected && kind == Some(Kind::Nested) {
            return Err(mismatch(self.sink.shape));
        }
        Ok(())
    }
}

/// One entry of an array of `data`: an element, or (when at least two dimensions remain)
/// an array for the next dimension.
struct Item<'l, 's> {
    dims: &'l [usize],
    sink: &'l mut Sink<'s>,
}

impl<'de> DeserializeSeed<'de> for Item<'_, '_> {
    type Value = Kind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_, '_> {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a boolean, null or an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Kind, A::Error> {
        if self.dims.len() < 2 {
            return Err(de::Error::custom(format!(
                "`data` is nested deeper than the shape {:?}",
                self.sink.shape
            )));
        }
        Level { dims: &self.dims[1..], top: false, sink: self.sink }.visit_seq(seq)?;
        Ok(Kind::Nested)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        self.sink.push(Scalar::Float(v)).map(|()| Kind::Scalar)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        self.sink.push(Scalar::Int(v.into())).map(|()| Kind::Scalar)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        self.sink.push(Scalar::Int(v.into())).map(|()| Kind::Scalar)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        self.sink.push(Scalar::Bool(v)).map(|()| Kind::Scalar)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        self.sink.push(Scalar::Null).map(|()| Kind::Scalar)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        self.sink.push(Scalar::Other(&format!("{v:?}"))).map(|()| Kind::Scalar)
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Kind, A::Error> {
        self.sink.push(Scalar::Other("an object")).map(|()| Kind::Scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let raw: Box<RawValue> = serde_json::from_str(text).expect("JSON");
        let bytes = parse_data(&raw, DType::Fp32, shape)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    #[test]
    fn flat_and_nested_data_along_the_shape_are_accepted() {
        assert_eq!(parse("[1, 2, 3, 4, 5, 6]", &[2, 3]).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(parse("[[1, 2, 3], [4, 5, 6]]", &[2, 3]).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(parse("[[1, 2, 3, 4, 5, 6]]", &[1, 2, 3]).unwrap().len(), 6);
        assert_eq!(parse("[[[1, 2, 3], [4, 5, 6]]]", &[1, 2, 3]).unwrap().len(), 6);
        assert_eq!(parse("[7]", &[]).unwrap(), [7.0]);
        assert!(parse("[null]", &[1]).unwrap()[0].is_nan());
    }

    #[test]
    fn data_that_does_not_follow_the_shape_is_refused() {
        let cases = [
            ("[[1, 2], [3, 4, 5, 6]]", vec![2, 3], "nesting of `data` does not match"),
            ("[[1, 2, 3, 4, 5], [[[[6]]]]]", vec![2, 3], "does not match"),
            ("[[1, 2, 3], [4, 5, 6], [7, 8, 9]]", vec![2, 3], "more than the 6 elements"),
            ("[[1, 2, 3]]", vec![2, 3], "does not match"),
            ("[1, [2, 3], 4, 5, 6, 7]", vec![2, 3], "does not match"),
            ("[[1], [2]]", vec![2], "nested deeper"),
            ("[1, 2, 3, 4, 5, 6, 7]", vec![2, 3], "more than the 6 elements"),
            ("[1, 2, 3, 4, 5]", vec![2, 3], "has 5 elements, its shape needs 6"),
            ("[1, \"a\", 3]", vec![3], "data element 1 (\"a\") is not a number"),
            ("[1, {}, 3]", vec![3], "is not a number"),
            ("[1e39]", vec![1], "outside the FP32 range"),
            ("5", vec![1], "must be an array"),
        ];
        for (text, shape, expected) in cases {
            let err = parse(text, &shape).expect_err(text);
            assert!(err.contains(expected), "{text}: `{err}` lacks `{expected}`");
            assert!(!err.contains("at line"), "{err}");
        }
    }

    #[test]
    fn integer_and_bool_dtypes_check_their_range() {
        let raw = |t: &str| -> Box<RawValue> { serde_json::from_str(t).unwrap() };
        assert_eq!(parse_data(&raw("[-128, 127]"), DType::Int8, &[2]).unwrap(), [0x80, 0x7f]);
        assert!(parse_data(&raw("[128]"), DType::Int8, &[1]).unwrap_err().contains("range"));
        assert!(parse_data(&raw("[1.5]"), DType::Int32, &[1]).unwrap_err().contains("not an integer"));
        assert_eq!(parse_data(&raw("[true, false]"), DType::Bool, &[2]).unwrap(), [1, 0]);
        assert!(parse_data(&raw("[1]"), DType::Bool, &[1]).unwrap_err().contains("true or false"));
        let big = u64::MAX.to_string();
        assert!(parse_data(&raw(&format!("[{big}]")), DType::Int64, &[1]).is_err());
    }

    #[test]
    fn capacity_follows_the_text_not_a_lying_shape() {
        let raw: Box<RawValue> = serde_json::from_str("[1, 2]").unwrap();
        let err = parse_data(&raw, DType::Fp32, &[1 << 40]).unwrap_err();
        assert!(err.contains("has 2 elements"), "{err}");
    }
}
