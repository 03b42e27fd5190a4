# The lake's bucket and the warehouse's BigQuery datasets.

resource "random_id" "bucket_suffix" {
  byte_length = 4
}

resource "google_storage_bucket" "lake" {
  name     = "${var.project}-${var.name}-${random_id.bucket_suffix.hex}"
  location = var.region
  labels   = var.labels
  # IAM conditions on object names (the pipeline's prefix) need uniform access.
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Files are written once and never rewritten in place: no versioning needed, and the
  # pipeline's recovery deletes only its own uncommitted tail.
  versioning {
    enabled = false
  }

  # Interrupted multipart uploads (a VM lost mid-file) are cleaned up after a day.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.lake_nearline_days > 0 ? [var.lake_nearline_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["${var.lake_prefix}/"]
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.lake_retention_days > 0 ? [var.lake_retention_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["${var.lake_prefix}/"]
      }
      action {
        type = "Delete"
      }
    }
  }

  lifecycle_rule {
    condition {
      age            = var.dead_letter_retention_days
      matches_prefix = ["${var.lake_prefix}/_dead_letters/", "${var.lake_prefix}/_late/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    precondition {
      condition     = var.lake_retention_days == 0 || var.lake_nearline_days == 0 || var.lake_retention_days > var.lake_nearline_days
      error_message = "lake_retention_days must be later than lake_nearline_days (or 0)."
    }
  }
}

# The models dbt builds (dim_*, fact_*, agg_*).
resource "google_bigquery_dataset" "warehouse" {
  dataset_id  = var.bq_dataset
  location    = var.bq_location
  description = "musicaly warehouse: the dbt project's models (warehouse/)."
  labels      = var.labels
}

# External tables over the lake (`musicaly bigquery` prints their DDL).
resource "google_bigquery_dataset" "lake" {
  dataset_id  = var.bq_lake_dataset
  location    = var.bq_location
  description = "musicaly lake: external tables over gs://${google_storage_bucket.lake.name}/${var.lake_prefix}."
  labels      = var.labels
}
