//! Every DynamoDB failure becomes a [`PortError`] here, and only here.
//!
//! Transient (the caller may retry): throttling, the service's internal errors and any 5xx,
//! timeouts, lost connections and unparseable responses, and transaction conflicts (another
//! transaction touched one of the items). Permanent: everything the same request will hit
//! again — validation errors, a missing table, denied access, a malformed item.
//!
//! The SDK already retries transient errors a few times (its standard retry mode) before
//! they reach us; what is left is the caller's to retry, so the classification matters.

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use eventpulse_handlers::ports::PortError;

/// Service error codes worth retrying. DynamoDB names a few differently in transactions'
/// cancellation reasons (`ThrottlingError`, `TransactionConflict`): those are listed too.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "ThrottlingError",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionConflict",
    "TransactionInProgressException",
    "ProvisionedThroughputExceeded",
];

/// Whether a service error code (or a transaction's cancellation code) is worth a retry.
pub(crate) fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Maps an SDK error of operation `op` on `table`.
pub(crate) fn sdk<E>(op: &str, table: &str, err: SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500 || err.code().is_some_and(is_transient_code)
        }
        // Timeouts, unparseable responses, and variants added to the SDK later.
        _ => true,
    };
    let detail = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", err.message().unwrap_or("(no message)"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    let message = format!("dynamodb {op} on table {table}: {detail}");
    if transient {
        PortError::transient(message)
    } else {
        PortError::permanent(message)
    }
}

/// A request or type the SDK refused to build (a missing required field): our bug, permanent.
pub(crate) fn build(op: &str, table: &str, err: BuildError) -> PortError {
    PortError::permanent(format!(
        "dynamodb {op} on table {table}: building the request: {err}"
    ))
}

/// An item that does not have the shape this adapter writes.
pub(crate) fn malformed(
    table: &str,
    pk: &str,
    sk: &str,
    what: impl std::fmt::Display,
) -> PortError {
    PortError::permanent(format!(
        "dynamodb table {table}: malformed item (pk {pk:?}, sk {sk:?}): {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for code in [
            "ThrottlingException",
            "TransactionConflict",
            "InternalServerError",
        ] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ConditionalCheckFailed",
        ] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
