//! [`change_stream`]: a store's change feed as a stream.

use super::*;

/// The change feed of `store` as a stream: every change committed in `config.region` after
/// `cursor` (possibly coalesced per identity, see [`RegistryStore::changes_since`]), in
/// commit order, then each new one as it is committed (woken by the store's
/// notifications, or every `poll`). A failed read yields the error and the stream goes on
/// after `poll` from where it was. [`SharedRegistry::follow`] is this stream applied to the
/// node's snapshot; use it directly to mirror changes elsewhere (an audit log, a cache).
pub fn change_stream(
    store: Arc<dyn RegistryStore>,
    config: RegistryConfig,
    cursor: u64,
    poll: Duration,
) -> impl futures_util::Stream<Item = Result<RemoteChange, SharedError>> + Send {
    struct Feed {
        store: Arc<dyn RegistryStore>,
        config: RegistryConfig,
        cursor: u64,
        poll: Duration,
        pending: std::collections::VecDeque<RemoteChange>,
        read_once: bool,
    }
    let feed = Feed {
        store,
        config,
        cursor,
        poll,
        pending: Default::default(),
        read_once: false,
    };
    futures_util::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(c) = f.pending.pop_front() {
                return Some((Ok(c), f));
            }
            if f.read_once {
                f.store.wait_for_changes(f.poll).await;
            }
            f.read_once = true;
            match f.store.changes_since(&f.config, f.cursor).await {
                Ok(batch) => {
                    f.cursor = batch.cursor;
                    f.pending.extend(batch.changes);
                }
                Err(e) => return Some((Err(e), f)),
            }
        }
    })
}
