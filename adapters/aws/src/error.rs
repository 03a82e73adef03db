//! SDK errors → [`PortError`], in one place, so that every adapter agrees on what may pass
//! on a retry. The SDK has already retried throttling and 5xx by the time an error gets
//! here; calling such errors transient lets the caller (the processing queue, the outbox,
//! Lambda's own retry) try again later, while errors that will repeat are permanent.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use eventpulse_handlers::ports::PortError;
use std::error::Error;

/// Error codes that mean "slow down" or "try later", whatever the HTTP status says.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottling",
];

/// `what` names the call (`S3 GetObject bucket/key`), for the message. Every service's
/// errors come as `SdkError<_, HttpResponse>` (the type is shared by all SDK crates).
pub(crate) fn classify<E>(what: &str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    let transient = match &err {
        // The request could not even be built (an invalid key, a missing field): it never will.
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) => true,
        // Connection refused or reset, DNS, TLS handshake, a dropped connection: the network,
        // not the request. A "user" dispatch error is a request the client refused to send.
        SdkError::DispatchFailure(e) => !e.is_user(),
        // An answer that could not be read (cut off, garbled): likely the network again,
        // unless the service clearly said no.
        SdkError::ResponseError(_) => !status.is_some_and(is_client_error),
        SdkError::ServiceError(_) => {
            err.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.is_some_and(|s| s >= 500 || s == 429 || s == 408)
        }
        // `SdkError` is non-exhaustive: an unknown kind is safest retried.
        _ => true,
    };
    if transient {
        PortError::transient(message)
    } else {
        PortError::permanent(message)
    }
}

fn is_client_error(status: u16) -> bool {
    (400..500).contains(&status)
}
