//! With a database shared by several nodes, one node at a time delivers the chat events of
//! every app: the node whose connection holds the row lock of `chatfn_app_locks` (`*`,
//! `events`) in an open transaction. The other nodes wait on that lock (a blocked
//! SELECT ... FOR UPDATE on a connection of their own), so when the delivering node stops, or
//! loses its connection, the lock goes with the connection and a waiting node takes over at
//! once. Every node accepts events; the delivering one hears of them (`store::postgres::Change`).

use std::time::Duration;

use tokio::sync::watch;
use tokio_postgres::NoTls;

use crate::store::postgres::{spawn, Database, WAIT};

/// How often the delivering node checks that its connection (and so its lock) is alive.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Starts contending for the delivery; the receiver says whether this node has it now.
pub fn contend(db: &Database) -> watch::Receiver<bool> {
    let (delivering, receiver) = watch::channel(false);
    let mut config = db.config().clone();
    // A node that vanished without closing its connection lets go when the server notices.
    config.keepalives(true).keepalives_idle(Duration::from_secs(5));
    spawn(async move {
        loop {
            if let Ok((client, connection)) = config.connect(NoTls).await {
                let mut connection = tokio::spawn(connection);
                let won = async {
                    client
                        .execute(
                            "INSERT INTO chatfn_app_locks (app, name) VALUES ('*', 'events')
                             ON CONFLICT DO NOTHING",
                            &[],
                        )
                        .await?;
                    client.batch_execute("BEGIN").await?;
                    // Waits for as long as another node has it.
                    client
                        .query_one(
                            "SELECT 1 FROM chatfn_app_locks WHERE app = '*' AND name = 'events'
                             FOR UPDATE",
                            &[],
                        )
                        .await
                };
                let won = tokio::select! {
                    won = won => won.is_ok(),
                    _ = &mut connection => false,
                };
                if won {
                    delivering.send_replace(true);
                    tracing::info!("this node delivers the chat events");
                    loop {
                        tokio::select! {
                            _ = &mut connection => break,
                            _ = tokio::time::sleep(CHECK_EVERY) => {
                                let alive = tokio::time::timeout(WAIT, client.simple_query("SELECT 1")).await;
                                if !matches!(alive, Ok(Ok(_))) {
                                    break;
                                }
                            }
                        }
                    }
                    delivering.send_replace(false);
                    tracing::warn!("this node no longer delivers the chat events (its database connection ended)");
                }
                connection.abort();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    receiver
}
