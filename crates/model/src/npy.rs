//! `.npy` files in and out (numpy's format), via the `npyz` crate.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{Error, Result};
use crate::tensor::{DType, NamedTensor};

/// Reads a C-order, little-endian `.npy` file as a tensor called `name`.
pub fn read_npy(path: impl AsRef<Path>, name: &str) -> Result<NamedTensor> {
    let path = path.as_ref();
    let bad = |reason: String| Error::Npy { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    if npy.order() != npyz::Order::C {
        return Err(bad("Fortran-order arrays are not supported; save with np.ascontiguousarray".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let type_str = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => return Err(bad(format!("structured dtype {other:?} is not supported"))),
    };
    let (dtype, data) = match type_str.as_str() {
        "<f4" => (DType::Fp32, le_bytes(npy.into_vec::<f32>(), f32::to_le_bytes)),
        "<f8" => (DType::Fp64, le_bytes(npy.into_vec::<f64>(), f64::to_le_bytes)),
        "|i1" => (DType::Int8, le_bytes(npy.into_vec::<i8>(), i8::to_le_bytes)),
        "|u1" => (DType::Uint8, le_bytes(npy.into_vec::<u8>(), u8::to_le_bytes)),
        "<i2" => (DType::Int16, le_bytes(npy.into_vec::<i16>(), i16::to_le_bytes)),
        "<i4" => (DType::Int32, le_bytes(npy.into_vec::<i32>(), i32::to_le_bytes)),
        "<i8" => (DType::Int64, le_bytes(npy.into_vec::<i64>(), i64::to_le_bytes)),
        "|b1" => (DType::Bool, npy.into_vec::<bool>().map(|v| v.into_iter().map(u8::from).collect())),
        other => return Err(bad(format!("dtype `{other}` is not supported (use float32)"))),
    };
    let data = data.map_err(|e| bad(format!("truncated or unreadable data: {e}")))?;
    NamedTensor::new(name, dtype, shape, data).map_err(|e| bad(e.to_string()))
}

fn le_bytes<T, const N: usize>(
    values: std::io::Result<Vec<T>>,
    f: fn(T) -> [u8; N],
) -> std::io::Result<Vec<u8>> {
    values.map(|v| v.into_iter().flat_map(f).collect())
}

/// Writes a tensor as a `.npy` file (numpy's `np.load` reads it back).
pub fn write_npy(path: impl AsRef<Path>, tensor: &NamedTensor) -> Result<()> {
    let path = path.as_ref();
    let io = |e: std::io::Error| Error::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::new(file);
    let shape: Vec<u64> = tensor.shape.iter().map(|&d| d as u64).collect();
    macro_rules! write_as {
        ($t:ty, $n:expr) => {{
            let mut writer = npyz::WriteOptions::<$t>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut w)
                .begin_nd()
                .map_err(io)?;
            writer
                .extend(
                    tensor
                        .data
                        .chunks_exact($n)
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size"))),
                )
                .map_err(io)?;
            writer.finish().map_err(io)?;
        }};
    }
    match tensor.dtype {
        DType::Fp32 => write_as!(f32, 4),
        DType::Fp64 => write_as!(f64, 8),
        DType::Int8 => write_as!(i8, 1),
        DType::Uint8 => write_as!(u8, 1),
        DType::Int16 => write_as!(i16, 2),
        DType::Int32 => write_as!(i32, 4),
        DType::Int64 => write_as!(i64, 8),
        DType::Bool => {
            let mut writer = npyz::WriteOptions::<bool>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut w)
                .begin_nd()
                .map_err(io)?;
            writer.extend(tensor.data.iter().map(|b| *b != 0)).map_err(io)?;
            writer.finish().map_err(io)?;
        }
        DType::Fp16 => {
            return Err(Error::Npy {
                path: path.to_path_buf(),
                reason: format!("writing {} tensors is not supported", tensor.dtype),
            })
        }
    }
    Ok(())
}
