//! AWS adapter over `aws-sdk-rds` (the only module that names `aws_sdk_rds`).
