//! `op_http_fetch`: the native side of `fetch` and of `node:http`'s client, through the app's `net::Outbound` (network
//! policy, fixtures, size limits).

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, OpState, ToJsBuffer};
use deno_error::JsErrorBox;
use serde::Serialize;

use crate::net::{Outbound, OutboundRequest, OutboundResponse};

#[derive(Serialize)]
pub struct FetchAnswer {
    #[serde(flatten)]
    response: OutboundResponse,
    body: ToJsBuffer,
}

#[op2]
#[serde]
pub async fn op_http_fetch(
    state: Rc<RefCell<OpState>>,
    #[string] method: String,
    #[string] url: String,
    #[serde] headers: Vec<(String, String)>,
    has_body: bool,
    #[buffer(copy)] body: Vec<u8>,
    follow_redirects: bool,
) -> Result<FetchAnswer, JsErrorBox> {
    let outbound = state.borrow().borrow::<Outbound>().clone();
    let request = OutboundRequest { follow_redirects, method, url, headers, body: has_body.then_some(body) };
    let mut response = outbound.fetch(request).await.map_err(|e| JsErrorBox::type_error(format!("fetch failed: {e}")))?;
    let body = std::mem::take(&mut response.body).into();
    Ok(FetchAnswer { response, body })
}
