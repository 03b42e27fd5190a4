# What the other steps need: the config's addresses, the bucket for `musicaly bigquery`,
# the VMs for `gcloud compute ssh --tunnel-through-iap`.

output "brokers" {
  description = "kafka.brokers of every VM: the brokers' internal DNS names (stable across reboots)."
  value       = local.brokers
}

output "lake_path" {
  description = "lake.path of the pipeline and serve VMs."
  value       = local.lake_path
}

output "bucket" {
  description = "The lake's bucket."
  value       = google_storage_bucket.lake.name
}

output "bigquery_datasets" {
  description = "The warehouse dataset (dbt's MUSICALY_BQ_DATASET) and the lake's external tables dataset (MUSICALY_BQ_LAKE_DATASET)."
  value = {
    warehouse = google_bigquery_dataset.warehouse.dataset_id
    lake      = google_bigquery_dataset.lake.dataset_id
  }
}

output "service_accounts" {
  description = "The service account of each role."
  value       = local.vm_accounts
}

output "vms" {
  description = "VM names by role."
  value = {
    broker    = google_compute_instance.broker[*].name
    pipeline  = google_compute_instance.pipeline[*].name
    simulator = google_compute_instance.simulator[*].name
    serve     = google_compute_instance.serve[*].name
  }
}

output "dashboard_tunnel" {
  description = "Command that opens the dashboard on http://127.0.0.1:DASHBOARD_PORT through IAP."
  value       = var.serve_enabled ? "gcloud compute start-iap-tunnel ${var.name}-serve ${var.dashboard_port} --local-host-port=127.0.0.1:${var.dashboard_port} --zone ${var.zone} --project ${var.project}" : ""
}
