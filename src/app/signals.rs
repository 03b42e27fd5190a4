//! SIGTERM and SIGINT become one cancellation: every part that must stop
//! (the Kafka source's polling loop, the drain's deadline) watches the same
//! [`CancellationToken`].

use tokio_util::sync::CancellationToken;

/// Cancels `token` at the first SIGTERM or SIGINT. Call inside an actix/tokio runtime.
pub fn cancel_on_signals(token: CancellationToken) {
    actix_rt::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        }
        token.cancel();
    });
}
