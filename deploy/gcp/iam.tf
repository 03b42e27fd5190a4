# One service account per role, each with only what that role does. No keys are made:
# the VMs use their attached account through the metadata server.
#
#   broker     writes logs and metrics; reads the package bucket
#   pipeline   + creates/reads/deletes objects under gs://LAKE/PREFIX/ only (IAM condition)
#   simulator  writes logs and metrics; reads the package bucket (talks only to Kafka)
#   loader     (serve VM) + reads the lake, runs BigQuery jobs, edits the two datasets
#
# scripts/tests/check_terraform.py enforces this list: a role outside it fails the suite.

resource "google_service_account" "broker" {
  account_id   = "${var.name}-broker"
  display_name = "musicaly Kafka broker"
}

resource "google_service_account" "pipeline" {
  account_id   = "${var.name}-pipeline"
  display_name = "musicaly pipeline (writes the lake under its prefix)"
}

resource "google_service_account" "simulator" {
  account_id   = "${var.name}-simulator"
  display_name = "musicaly load generator"
}

resource "google_service_account" "loader" {
  account_id   = "${var.name}-loader"
  display_name = "musicaly dashboard and warehouse loader (BigQuery)"
}

locals {
  vm_accounts = {
    broker    = google_service_account.broker.email
    pipeline  = google_service_account.pipeline.email
    simulator = google_service_account.simulator.email
    loader    = google_service_account.loader.email
  }
  # Object names in IAM conditions are projects/_/buckets/BUCKET/objects/NAME; listing is
  # checked on the bucket itself, which a prefix condition cannot narrow (names only).
  lake_objects    = "projects/_/buckets/${google_storage_bucket.lake.name}/objects/${var.lake_prefix}/"
  lake_condition  = "resource.name.startsWith(\"${local.lake_objects}\") || resource.type == \"storage.googleapis.com/Bucket\""
  package_readers = { for role, email in local.vm_accounts : role => email if var.package_bucket != "" }
}

# Every VM ships its journal and metrics (Ops Agent) to Cloud Logging/Monitoring.
resource "google_project_iam_member" "log_writer" {
  for_each = local.vm_accounts
  project  = var.project
  role     = "roles/logging.logWriter"
  member   = "serviceAccount:${each.value}"
}

resource "google_project_iam_member" "metric_writer" {
  for_each = local.vm_accounts
  project  = var.project
  role     = "roles/monitoring.metricWriter"
  member   = "serviceAccount:${each.value}"
}

# Every VM reads the package (and the Kafka tarball, if kept there) from the package bucket.
resource "google_storage_bucket_iam_member" "package_reader" {
  for_each = local.package_readers
  bucket   = var.package_bucket
  role     = "roles/storage.objectViewer"
  member   = "serviceAccount:${each.value}"
}

# The pipeline writes, lists and (for its crash recovery) deletes lake files under its
# prefix, nothing else in the bucket.
resource "google_storage_bucket_iam_member" "pipeline_lake_writer" {
  bucket = google_storage_bucket.lake.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.pipeline.email}"
  condition {
    title       = "lake-prefix-only"
    description = "Objects under gs://${google_storage_bucket.lake.name}/${var.lake_prefix}/ only"
    expression  = local.lake_condition
  }
}

# The loader reads the lake (musicaly load, BigQuery external tables) ...
resource "google_storage_bucket_iam_member" "loader_lake_reader" {
  bucket = google_storage_bucket.lake.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.loader.email}"
  condition {
    title       = "lake-prefix-only"
    description = "Objects under gs://${google_storage_bucket.lake.name}/${var.lake_prefix}/ only"
    expression  = local.lake_condition
  }
}

# ... runs query and load jobs (billed to the project) ...
resource "google_project_iam_member" "loader_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.loader.email}"
}

# ... and writes tables only in the two musicaly datasets.
resource "google_bigquery_dataset_iam_member" "loader_warehouse_editor" {
  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.loader.email}"
}

resource "google_bigquery_dataset_iam_member" "loader_lake_editor" {
  dataset_id = google_bigquery_dataset.lake.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.loader.email}"
}
