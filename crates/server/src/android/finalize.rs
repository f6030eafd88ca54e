//! `devicelockcontroller.DeviceLockFinalizeService`: a released phone reports that it
//! cleared itself.

use super::{status, Phones};
use lienlock_android::proto::device_lock_finalize_service_server::DeviceLockFinalizeService;
use lienlock_android::proto::{
    ReportDeviceProgramCompleteRequest, ReportDeviceProgramCompleteResponse,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl DeviceLockFinalizeService for Phones {
    async fn report_device_program_complete(
        &self,
        request: Request<ReportDeviceProgramCompleteRequest>,
    ) -> Result<Response<ReportDeviceProgramCompleteResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        self.service
            .android_program_complete(scope, req.registered_device_identifier.as_deref())
            .await
            .map_err(status)?;
        Ok(Response::new(ReportDeviceProgramCompleteResponse {}))
    }
}
