//! `op_zlib_process`: gzip, zlib (deflate) and raw deflate, both ways, for `node:zlib`, over
//! flate2. One call handles a whole buffer; the JS side builds streams on top.

use std::borrow::Cow;
use std::io::{Read, Write};

use deno_core::op2;
use flate2::Compression;

/// Inflated output is capped so a small bomb cannot take the isolate's memory.
const MAX_OUTPUT: u64 = 256 << 20;

/// What `node:zlib` throws, with Node's class, `code`, and `errno` for bad data. (By hand: the
/// `JsError` derive cannot give one variant a property the others lack.)
#[derive(Debug, thiserror::Error)]
pub enum ZlibError {
    #[error("{0}")]
    Data(String),
    #[error("Cannot create a Buffer larger than {} MB (chatfn's cap on inflated output)", MAX_OUTPUT >> 20)]
    TooLarge,
    #[error("zlib mode {0} is not available in chatfn")]
    Mode(String),
}

impl deno_error::JsErrorClass for ZlibError {
    fn get_class(&self) -> Cow<'static, str> {
        match self {
            ZlibError::TooLarge => "RangeError".into(),
            _ => "Error".into(),
        }
    }

    fn get_message(&self) -> Cow<'static, str> {
        self.to_string().into()
    }

    fn get_additional_properties(&self) -> deno_error::AdditionalProperties {
        let (code, errno) = match self {
            ZlibError::Data(_) => ("Z_DATA_ERROR", Some(-3)),
            ZlibError::TooLarge => ("ERR_BUFFER_TOO_LARGE", None),
            ZlibError::Mode(_) => ("ERR_METHOD_NOT_IMPLEMENTED", None),
        };
        let errno = errno.map(|n: i32| (Cow::Borrowed("errno"), n.into()));
        Box::new([(Cow::Borrowed("code"), code.into())].into_iter().chain(errno))
    }

    fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
}

fn data_error(e: std::io::Error) -> ZlibError {
    ZlibError::Data(e.to_string())
}

fn read_all(mut reader: impl Read) -> Result<Vec<u8>, ZlibError> {
    let mut out = Vec::new();
    reader.by_ref().take(MAX_OUTPUT + 1).read_to_end(&mut out).map_err(data_error)?;
    if out.len() as u64 > MAX_OUTPUT {
        return Err(ZlibError::TooLarge);
    }
    Ok(out)
}

#[op2]
#[buffer]
pub fn op_zlib_process(
    #[string] mode: &str,
    #[buffer] data: &[u8],
    level: i32,
) -> Result<Vec<u8>, ZlibError> {
    let level = if (0..=9).contains(&level) {
        Compression::new(level as u32)
    } else {
        Compression::default()
    };
    match mode {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).map_err(data_error)?;
            e.finish().map_err(data_error)
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).map_err(data_error)?;
            e.finish().map_err(data_error)
        }
        "deflateRaw" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(data).map_err(data_error)?;
            e.finish().map_err(data_error)
        }
        "gunzip" => read_all(flate2::read::MultiGzDecoder::new(data)),
        "inflate" => read_all(flate2::read::ZlibDecoder::new(data)),
        "inflateRaw" => read_all(flate2::read::DeflateDecoder::new(data)),
        // unzip: gzip or zlib, by the header.
        "unzip" if data.starts_with(&[0x1f, 0x8b]) => {
            read_all(flate2::read::MultiGzDecoder::new(data))
        }
        "unzip" => read_all(flate2::read::ZlibDecoder::new(data)),
        other => Err(ZlibError::Mode(other.to_string())),
    }
}
