//! Classification of SDK errors into [`BackendError`]: done once, here, for every operation.
//!
//! The order of evidence is: the operation's typed error variant (e.g.
//! `CreateDBSnapshotError::DbSnapshotAlreadyExistsFault`), then the error code as the SDK parsed
//! it from the response (`ProvideErrorMetadata::code()`, a typed field, used for the generic
//! codes no operation models: `Throttling`, `AccessDenied`, ...), then the HTTP status.
//! Message text is never inspected.

use crate::backend::{BackendError, ErrorKind};
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rds::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceError;
use aws_sdk_rds::operation::create_blue_green_deployment::CreateBlueGreenDeploymentError;
use aws_sdk_rds::operation::create_db_parameter_group::CreateDBParameterGroupError;
use aws_sdk_rds::operation::create_db_snapshot::CreateDBSnapshotError;
use aws_sdk_rds::operation::delete_blue_green_deployment::DeleteBlueGreenDeploymentError;
use aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError;
use aws_sdk_rds::operation::delete_db_parameter_group::DeleteDBParameterGroupError;
use aws_sdk_rds::operation::describe_account_attributes::DescribeAccountAttributesError;
use aws_sdk_rds::operation::describe_blue_green_deployments::DescribeBlueGreenDeploymentsError;
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDBEngineVersionsError;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_db_log_files::DescribeDBLogFilesError;
use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDBParameterGroupsError;
use aws_sdk_rds::operation::describe_db_parameters::DescribeDBParametersError;
use aws_sdk_rds::operation::describe_db_proxies::DescribeDBProxiesError;
use aws_sdk_rds::operation::describe_db_proxy_targets::DescribeDBProxyTargetsError;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDBSnapshotsError;
use aws_sdk_rds::operation::describe_integrations::DescribeIntegrationsError;
use aws_sdk_rds::operation::download_db_log_file_portion::DownloadDBLogFilePortionError;
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceError;
use aws_sdk_rds::operation::modify_db_instance::ModifyDBInstanceError;
use aws_sdk_rds::operation::modify_db_parameter_group::ModifyDBParameterGroupError;
use aws_sdk_rds::operation::switchover_blue_green_deployment::SwitchoverBlueGreenDeploymentError;

/// The kind an operation's *modelled* error variant stands for, if it is one we know.
pub(crate) trait TypedKind {
    fn typed_kind(&self) -> Option<ErrorKind>;
}

/// One `impl TypedKind` per operation error enum: a table from typed variant to kind.
macro_rules! typed_kinds {
    ($($ty:ident { $($variant:ident => $kind:ident),* $(,)? })*) => {$(
        impl TypedKind for $ty {
            fn typed_kind(&self) -> Option<ErrorKind> {
                #[allow(unreachable_patterns, clippy::match_single_binding)]
                match self {
                    $($ty::$variant(_) => Some(ErrorKind::$kind),)*
                    _ => None,
                }
            }
        }
    )*};
}

typed_kinds! {
    DescribeDBInstancesError { DbInstanceNotFoundFault => NotFound }
    DescribeBlueGreenDeploymentsError { BlueGreenDeploymentNotFoundFault => NotFound }
    DescribeDBSnapshotsError { DbSnapshotNotFoundFault => NotFound }
    CreateDBSnapshotError {
        DbInstanceNotFoundFault => NotFound,
        DbSnapshotAlreadyExistsFault => AlreadyExists,
        InvalidDbInstanceStateFault => InvalidState,
        SnapshotQuotaExceededFault => QuotaExceeded,
    }
    DescribeDBParameterGroupsError { DbParameterGroupNotFoundFault => NotFound }
    DescribeDBParametersError { DbParameterGroupNotFoundFault => NotFound }
    CreateDBParameterGroupError {
        DbParameterGroupAlreadyExistsFault => AlreadyExists,
        DbParameterGroupQuotaExceededFault => QuotaExceeded,
    }
    ModifyDBParameterGroupError {
        DbParameterGroupNotFoundFault => NotFound,
        InvalidDbParameterGroupStateFault => InvalidState,
    }
    DeleteDBParameterGroupError {
        DbParameterGroupNotFoundFault => NotFound,
        InvalidDbParameterGroupStateFault => InvalidState,
    }
    CreateBlueGreenDeploymentError {
        BlueGreenDeploymentAlreadyExistsFault => AlreadyExists,
        DbClusterNotFoundFault => NotFound,
        DbClusterParameterGroupNotFoundFault => NotFound,
        DbClusterQuotaExceededFault => QuotaExceeded,
        DbInstanceNotFoundFault => NotFound,
        DbParameterGroupNotFoundFault => NotFound,
        InstanceQuotaExceededFault => QuotaExceeded,
        InvalidDbClusterStateFault => InvalidState,
        InvalidDbInstanceStateFault => InvalidState,
        SourceClusterNotSupportedFault => InvalidRequest,
        SourceDatabaseNotSupportedFault => InvalidRequest,
        StorageQuotaExceededFault => QuotaExceeded,
    }
    SwitchoverBlueGreenDeploymentError {
        BlueGreenDeploymentNotFoundFault => NotFound,
        InvalidBlueGreenDeploymentStateFault => InvalidState,
    }
    DeleteBlueGreenDeploymentError {
        BlueGreenDeploymentNotFoundFault => NotFound,
        InvalidBlueGreenDeploymentStateFault => InvalidState,
    }
    DeleteDBInstanceError {
        DbInstanceAutomatedBackupQuotaExceededFault => QuotaExceeded,
        DbInstanceNotFoundFault => NotFound,
        // The *final snapshot* name is taken: for a retried delete this is the adopt signal.
        DbSnapshotAlreadyExistsFault => AlreadyExists,
        InvalidDbClusterStateFault => InvalidState,
        InvalidDbInstanceStateFault => InvalidState,
        KmsKeyNotAccessibleFault => AccessDenied,
        SnapshotQuotaExceededFault => QuotaExceeded,
    }
    ModifyDBInstanceError {
        DbInstanceNotFoundFault => NotFound,
        InvalidDbInstanceStateFault => InvalidState,
        InvalidDbClusterStateFault => InvalidState,
        KmsKeyNotAccessibleFault => AccessDenied,
        StorageQuotaExceededFault => QuotaExceeded,
    }
    AddTagsToResourceError {
        BlueGreenDeploymentNotFoundFault => NotFound,
        DbInstanceNotFoundFault => NotFound,
        DbSnapshotNotFoundFault => NotFound,
        DbClusterNotFoundFault => NotFound,
        InvalidDbInstanceStateFault => InvalidState,
        InvalidDbClusterStateFault => InvalidState,
    }
    // The model lists no fault for a parameter group ARN that names nothing; RDS's
    // `DBParameterGroupNotFound` code is classified by `CODE_KINDS` below.
    ListTagsForResourceError {
        BlueGreenDeploymentNotFoundFault => NotFound,
        DbClusterNotFoundFault => NotFound,
        DbInstanceNotFoundFault => NotFound,
        DbSnapshotNotFoundFault => NotFound,
    }
    DescribeDBEngineVersionsError {}
    DescribeAccountAttributesError {}
    DescribeDBProxiesError { DbProxyNotFoundFault => NotFound }
    DescribeDBProxyTargetsError {
        DbProxyNotFoundFault => NotFound,
        DbProxyTargetGroupNotFoundFault => NotFound,
        DbProxyTargetNotFoundFault => NotFound,
        InvalidDbProxyStateFault => InvalidState,
    }
    DescribeIntegrationsError { IntegrationNotFoundFault => NotFound }
    DescribeDBLogFilesError {
        DbInstanceNotFoundFault => NotFound,
        DbInstanceNotReadyFault => InvalidState,
    }
    DownloadDBLogFilePortionError {
        DbInstanceNotFoundFault => NotFound,
        DbInstanceNotReadyFault => InvalidState,
        DbLogFileNotFoundFault => NotFound,
    }
}

/// Error codes that no single operation models but every AWS query API can answer with.
/// Also the RDS fault codes, for endpoints (moto) that answer an operation with a fault its
/// model does not list: the code is still a parsed, typed field of the response.
const CODE_KINDS: &[(&str, ErrorKind)] = &[
    ("Throttling", ErrorKind::Throttled),
    ("ThrottlingException", ErrorKind::Throttled),
    ("ThrottledException", ErrorKind::Throttled),
    ("RequestLimitExceeded", ErrorKind::Throttled),
    ("RequestThrottled", ErrorKind::Throttled),
    ("RequestThrottledException", ErrorKind::Throttled),
    ("TooManyRequestsException", ErrorKind::Throttled),
    ("SlowDown", ErrorKind::Throttled),
    ("AccessDenied", ErrorKind::AccessDenied),
    ("AccessDeniedException", ErrorKind::AccessDenied),
    ("UnauthorizedOperation", ErrorKind::AccessDenied),
    ("AuthFailure", ErrorKind::AccessDenied),
    ("InvalidClientTokenId", ErrorKind::AccessDenied),
    ("UnrecognizedClientException", ErrorKind::AccessDenied),
    ("SignatureDoesNotMatch", ErrorKind::AccessDenied),
    ("IncompleteSignature", ErrorKind::AccessDenied),
    ("MissingAuthenticationToken", ErrorKind::AccessDenied),
    ("ExpiredToken", ErrorKind::AccessDenied),
    ("ExpiredTokenException", ErrorKind::AccessDenied),
    ("OptInRequired", ErrorKind::AccessDenied),
    ("InvalidParameterValue", ErrorKind::InvalidRequest),
    ("InvalidParameterCombination", ErrorKind::InvalidRequest),
    ("InvalidParameter", ErrorKind::InvalidRequest),
    ("MissingParameter", ErrorKind::InvalidRequest),
    ("ValidationError", ErrorKind::InvalidRequest),
    ("MalformedQueryString", ErrorKind::InvalidRequest),
    ("InvalidAction", ErrorKind::Unavailable),
    ("NotImplemented", ErrorKind::Unavailable),
    ("UnsupportedOperation", ErrorKind::Unavailable),
    ("InternalFailure", ErrorKind::Transient),
    ("InternalError", ErrorKind::Transient),
    ("ServiceUnavailable", ErrorKind::Transient),
    ("DBInstanceNotFound", ErrorKind::NotFound),
    ("DBInstanceNotFoundFault", ErrorKind::NotFound),
    ("DBSnapshotNotFound", ErrorKind::NotFound),
    ("DBParameterGroupNotFound", ErrorKind::NotFound),
    ("BlueGreenDeploymentNotFoundFault", ErrorKind::NotFound),
    ("DBProxyNotFoundFault", ErrorKind::NotFound),
    ("DBProxyTargetGroupNotFoundFault", ErrorKind::NotFound),
    ("IntegrationNotFoundFault", ErrorKind::NotFound),
    ("DBLogFileNotFoundFault", ErrorKind::NotFound),
    ("DBInstanceAlreadyExists", ErrorKind::AlreadyExists),
    ("DBSnapshotAlreadyExists", ErrorKind::AlreadyExists),
    ("DBParameterGroupAlreadyExists", ErrorKind::AlreadyExists),
    (
        "BlueGreenDeploymentAlreadyExistsFault",
        ErrorKind::AlreadyExists,
    ),
    ("InvalidDBInstanceState", ErrorKind::InvalidState),
    ("InvalidDBParameterGroupState", ErrorKind::InvalidState),
    (
        "InvalidBlueGreenDeploymentStateFault",
        ErrorKind::InvalidState,
    ),
    ("InstanceQuotaExceeded", ErrorKind::QuotaExceeded),
    ("SnapshotQuotaExceeded", ErrorKind::QuotaExceeded),
    ("DBParameterGroupQuotaExceeded", ErrorKind::QuotaExceeded),
    ("StorageQuotaExceeded", ErrorKind::QuotaExceeded),
];

pub(crate) fn kind_from_code(code: &str) -> Option<ErrorKind> {
    CODE_KINDS.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)
}

pub(crate) fn kind_from_status(status: u16) -> ErrorKind {
    match status {
        403 => ErrorKind::AccessDenied,
        429 => ErrorKind::Throttled,
        501 => ErrorKind::Unavailable,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// The request id of a failed call, as the SDK recorded it in the error metadata (the SDK
/// takes it from the `x-amzn-RequestId` response header, which RDS sends with every answer;
/// the same id is in the error body's `<RequestId>`), else read from the raw response's
/// headers. `None` when no response came back (timeout, connection refused).
fn request_id<E>(err: &SdkError<E, HttpResponse>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    let from_body = match err {
        SdkError::ServiceError(ctx) => ctx.err().meta().request_id(),
        _ => None,
    };
    from_body.or_else(|| err.request_id()).map(str::to_string)
}

/// Classify an SDK error from operation `op` (the action name, e.g. `CreateDBSnapshot`).
pub(crate) fn classify<E>(op: &str, err: SdkError<E, HttpResponse>) -> BackendError
where
    E: TypedKind + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let rid = request_id(&err);
    classify_kind(op, err).with_request_id(rid)
}

fn classify_kind<E>(op: &str, err: SdkError<E, HttpResponse>) -> BackendError
where
    E: TypedKind + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let status = ctx.raw().status().as_u16();
            let code = e.code().unwrap_or("").to_string();
            let kind = e
                .typed_kind()
                .or_else(|| kind_from_code(&code))
                .unwrap_or_else(|| kind_from_status(status));
            let code = if code.is_empty() {
                format!("HTTP{status}")
            } else {
                code
            };
            let message = format!("{op}: {}", e.message().unwrap_or("(no message)"));
            BackendError::new(kind, code, message)
        }
        SdkError::TimeoutError(_) => BackendError::new(
            ErrorKind::Transient,
            "Timeout",
            format!("{op}: {}", DisplayErrorContext(&err)),
        ),
        SdkError::DispatchFailure(_) => BackendError::new(
            ErrorKind::Transient,
            "DispatchFailure",
            format!("{op}: {}", DisplayErrorContext(&err)),
        ),
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            BackendError::new(
                kind_from_status(status),
                format!("HTTP{status}"),
                format!("{op}: {}", DisplayErrorContext(&err)),
            )
        }
        SdkError::ConstructionFailure(_) => BackendError::new(
            ErrorKind::InvalidRequest,
            "ConstructionFailure",
            format!("{op}: {}", DisplayErrorContext(&err)),
        ),
        _ => BackendError::new(
            ErrorKind::Other,
            "Unknown",
            format!("{op}: {}", DisplayErrorContext(&err)),
        ),
    }
}

/// For optional operations (engine versions, account quotas): a server error or an unknown
/// code means "this endpoint cannot answer", which callers handle by falling back. moto answers
/// HTTP 500 for operations it does not implement.
pub(crate) fn as_optional(mut e: BackendError) -> BackendError {
    if matches!(e.kind, ErrorKind::Transient | ErrorKind::Other) {
        e.kind = ErrorKind::Unavailable;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_classify() {
        assert_eq!(kind_from_code("Throttling"), Some(ErrorKind::Throttled));
        assert_eq!(
            kind_from_code("AccessDenied"),
            Some(ErrorKind::AccessDenied)
        );
        assert_eq!(
            kind_from_code("DBSnapshotAlreadyExists"),
            Some(ErrorKind::AlreadyExists)
        );
        assert_eq!(kind_from_code("SomethingNew"), None);
        assert_eq!(kind_from_status(500), ErrorKind::Transient);
        assert_eq!(kind_from_status(501), ErrorKind::Unavailable);
        assert_eq!(kind_from_status(429), ErrorKind::Throttled);
        assert_eq!(kind_from_status(400), ErrorKind::Other);
    }

    #[test]
    fn optional_operations_turn_server_errors_into_unavailable_only() {
        let t = as_optional(BackendError::new(ErrorKind::Transient, "HTTP500", "m"));
        assert_eq!(t.kind, ErrorKind::Unavailable);
        let d = as_optional(BackendError::new(
            ErrorKind::AccessDenied,
            "AccessDenied",
            "m",
        ));
        assert_eq!(d.kind, ErrorKind::AccessDenied, "a denial stays visible");
        let th = as_optional(BackendError::new(ErrorKind::Throttled, "Throttling", "m"));
        assert_eq!(th.kind, ErrorKind::Throttled);
    }

    #[test]
    fn typed_variants_win_over_codes() {
        use aws_sdk_rds::types::error::DbSnapshotAlreadyExistsFault;
        let e = CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
            DbSnapshotAlreadyExistsFault::builder().build(),
        );
        assert_eq!(e.typed_kind(), Some(ErrorKind::AlreadyExists));
        let generic = CreateDBSnapshotError::generic(
            aws_sdk_rds::error::ErrorMetadata::builder()
                .code("Throttling")
                .build(),
        );
        assert_eq!(generic.typed_kind(), None);
    }
}
