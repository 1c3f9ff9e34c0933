//! The native side of outbound HTTP (`fetch` and `node:http`), through the app's
//! `net::Outbound` (network policy, fixtures, size limits): `op_http_open` answers with the
//! response head and a resource that `op_http_read` reads the body from, chunk by chunk as it
//! arrives.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, OpState, Resource, ResourceId, ToJsBuffer};
use deno_error::JsErrorBox;
use serde::Serialize;

use crate::net::{BodyReader, NetError, Outbound, OutboundRequest, OutboundResponse};

/// A request that got no response, as `fetch` rejects: a TypeError "fetch failed: <reason>",
/// with Node's `code` for the reason and the `reason` alone (what `node:http` reports).
#[derive(Debug, thiserror::Error, deno_error::JsError)]
#[class(type)]
#[property("code" = self.0.code())]
#[property("reason" = self.0.to_string())]
#[error("fetch failed: {0}")]
pub struct FetchFailed(NetError);

/// A response body being read.
struct HttpBody(RefCell<Option<BodyReader>>);

impl Resource for HttpBody {
    fn name(&self) -> Cow<'_, str> {
        "httpBody".into()
    }
}

#[derive(Serialize)]
pub struct OpenAnswer {
    #[serde(flatten)]
    response: OutboundResponse,
    rid: ResourceId,
}

#[op2]
#[serde]
pub async fn op_http_open(
    state: Rc<RefCell<OpState>>,
    #[string] method: String,
    #[string] url: String,
    #[serde] headers: Vec<(String, String)>,
    has_body: bool,
    #[buffer(copy)] body: Vec<u8>,
    follow_redirects: bool,
) -> Result<OpenAnswer, FetchFailed> {
    let outbound = state.borrow().borrow::<Outbound>().clone();
    let request =
        OutboundRequest { follow_redirects, method, url, headers, body: has_body.then_some(body) };
    let (response, reader) = outbound.open(request).await.map_err(FetchFailed)?;
    let rid = state.borrow_mut().resource_table.add(HttpBody(RefCell::new(Some(reader))));
    Ok(OpenAnswer { response, rid })
}

/// The next chunk of a body, or null at its end (the resource is closed then, and on errors).
#[op2]
#[serde]
pub async fn op_http_read(
    state: Rc<RefCell<OpState>>,
    #[smi] rid: ResourceId,
) -> Result<Option<ToJsBuffer>, JsErrorBox> {
    let body = state
        .borrow()
        .resource_table
        .get::<HttpBody>(rid)
        .map_err(|_| JsErrorBox::type_error("the response body is closed"))?;
    let mut reader = body
        .0
        .borrow_mut()
        .take()
        .ok_or_else(|| JsErrorBox::type_error("the response body is being read already"))?;
    let chunk = reader.next_chunk().await;
    match chunk {
        Ok(Some(chunk)) => {
            body.0.borrow_mut().replace(reader);
            Ok(Some(chunk.into()))
        }
        Ok(None) => {
            let _ = state.borrow_mut().resource_table.take::<HttpBody>(rid);
            Ok(None)
        }
        Err(e) => {
            let _ = state.borrow_mut().resource_table.take::<HttpBody>(rid);
            Err(JsErrorBox::type_error(format!("reading the response failed: {e}")))
        }
    }
}

/// Stops reading a body (the connection is dropped).
#[op2(fast)]
pub fn op_http_close(state: &mut OpState, #[smi] rid: ResourceId) {
    let _ = state.resource_table.take::<HttpBody>(rid);
}
