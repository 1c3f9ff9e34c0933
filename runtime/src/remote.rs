//! A signed-in client of a chatfn server's Platform API, for the commands that drive one:
//! `apply`, `export` and `replay`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::Value;

/// A signed-in Platform API client.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Remote {
    /// `key` is `CLIENT_ID:CLIENT_SECRET`, as `chatfn keys create` prints them.
    pub async fn connect(server: &str, key: &str) -> anyhow::Result<Remote> {
        let Some((id, secret)) = key.split_once(':') else {
            bail!("the key must be CLIENT_ID:CLIENT_SECRET (from `chatfn keys create`)");
        };
        crate::deps::registry::install_crypto_provider();
        let http = reqwest::Client::builder().build()?;
        let base = server.trim_end_matches('/').to_string();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let response = http
            .post(format!("{base}/oauth/token"))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        if !response.status().is_success() {
            bail!("{base} refused the key ({})", response.status());
        }
        let answer: Value = response.json().await?;
        let token = answer["access_token"]
            .as_str()
            .context("the token endpoint answered without a token")?
            .to_string();
        Ok(Remote { http, base, token })
    }

    /// One call; `Ok(None)` for a 404, an error naming the request for any other failure.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            200..=299 => Ok(Some(answer)),
            404 => Ok(None),
            _ => bail!("{method} {path}: {status}: {}", answer["message"].as_str().unwrap_or("")),
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None)
            .await?
            .with_context(|| format!("GET {path}: not found"))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        self.call(method.clone(), path, Some(body))
            .await?
            .with_context(|| format!("{method} {path}: not found"))
    }

    /// Every function on the server, by trigger.
    pub async fn functions(&self) -> anyhow::Result<BTreeMap<String, Value>> {
        let list = self.get("/v1/runtimes/nodejs/functions?size=1000").await?;
        let functions = list["_embedded"]["functions"].as_array().cloned().unwrap_or_default();
        Ok(functions
            .into_iter()
            .map(|f| (f["type"].as_str().unwrap_or_default().to_string(), f))
            .collect())
    }

    /// Follows a server-sent event stream at `path`: `on_open` once the server answered (it
    /// follows from then on), then `on_event(event, data)` for each event until it ends.
    pub async fn follow(
        &self,
        path: &str,
        on_open: impl FnOnce(),
        mut on_event: impl FnMut(&str, &str),
    ) -> anyhow::Result<()> {
        let mut response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        if !response.status().is_success() {
            bail!("GET {path}: {}", response.status());
        }
        on_open();
        let mut pending = String::new();
        while let Some(chunk) = response.chunk().await? {
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                let mut event = "message";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim();
                    } else if let Some(text) = line.strip_prefix("data:") {
                        data.push_str(text.strip_prefix(' ').unwrap_or(text));
                    }
                }
                if !data.is_empty() {
                    on_event(event, &data);
                }
            }
        }
        Ok(())
    }
}
