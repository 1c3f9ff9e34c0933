//! `op_zlib_process`: gzip, zlib (deflate) and raw deflate, both ways, for `node:zlib`, over
//! flate2. One call handles a whole buffer; the JS side builds streams on top.

use std::io::{Read, Write};

use deno_core::op2;
use deno_error::JsErrorBox;
use flate2::Compression;

/// Inflated output is capped so a small bomb cannot take the isolate's memory.
const MAX_OUTPUT: u64 = 256 << 20;

fn data_error(e: std::io::Error) -> JsErrorBox {
    JsErrorBox::new("Error", format!("Z_DATA_ERROR: {e}"))
}

fn read_all(mut reader: impl Read) -> Result<Vec<u8>, JsErrorBox> {
    let mut out = Vec::new();
    reader.by_ref().take(MAX_OUTPUT + 1).read_to_end(&mut out).map_err(data_error)?;
    if out.len() as u64 > MAX_OUTPUT {
        return Err(JsErrorBox::new("RangeError", format!("ERR_BUFFER_TOO_LARGE: output larger than {} MB", MAX_OUTPUT >> 20)));
    }
    Ok(out)
}

#[op2]
#[buffer]
pub fn op_zlib_process(#[string] mode: &str, #[buffer] data: &[u8], level: i32) -> Result<Vec<u8>, JsErrorBox> {
    let level = if (0..=9).contains(&level) { Compression::new(level as u32) } else { Compression::default() };
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
        "unzip" if data.starts_with(&[0x1f, 0x8b]) => read_all(flate2::read::MultiGzDecoder::new(data)),
        "unzip" => read_all(flate2::read::ZlibDecoder::new(data)),
        other => {
            Err(JsErrorBox::new("Error", format!("ERR_METHOD_NOT_IMPLEMENTED: zlib mode {other} is not available in chatfn")))
        }
    }
}
