# Inputs of the deployment. Only `project` and `package_url` have no default; see README.md
# ("GCP with terraform") for a terraform.tfvars example.

variable "project" {
  type        = string
  description = "GCP project id that holds everything (VMs, bucket, datasets, service accounts)."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the bucket, the datasets' location default and the subnet (e.g. europe-west1)."
  default     = "europe-west1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "zone" {
  type        = string
  description = "Zone of every VM; part of the brokers' internal DNS names (NAME.ZONE.c.PROJECT.internal)."
  default     = "europe-west1-b"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must look like europe-west1-b."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource name (VMs, service accounts, firewall rules, network); also the Kafka consumer group."
  default     = "musicaly"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}$", var.name))
    error_message = "name must be 2-18 lowercase letters, digits or hyphens, starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "package_url" {
  type        = string
  description = "Where the VMs get the musicaly Debian package: gs://BUCKET/OBJECT.deb (read with the VM's service account) or an https:// URL."
  validation {
    condition     = can(regex("^(gs|https)://.+\\.deb$", var.package_url))
    error_message = "package_url must be gs://BUCKET/PATH.deb or https://HOST/PATH.deb."
  }
}

variable "package_bucket" {
  type        = string
  description = "Bucket holding the package when package_url is gs://...; every VM's service account gets objectViewer on it. Empty = the package comes from https."
  default     = ""
  validation {
    condition     = var.package_bucket == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.package_bucket))
    error_message = "package_bucket must be empty or a bucket name (3-63 lowercase letters, digits, dots, hyphens, underscores)."
  }
}

variable "subnet_cidr" {
  type        = string
  description = "CIDR of the subnet the VMs live in (internal addresses only; no VM gets an external IP)."
  default     = "10.20.0.0/24"
  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "subnet_cidr must be an IPv4 CIDR such as 10.20.0.0/24."
  }
}

variable "broker_count" {
  type        = number
  description = "Kafka brokers (KRaft, each broker also a controller): 1 for a trial, 3 for a quorum that survives the loss of one VM."
  default     = 1
  validation {
    condition     = contains([1, 3, 5], var.broker_count)
    error_message = "broker_count must be 1, 3 or 5 (a KRaft controller quorum needs an odd number of voters)."
  }
}

variable "broker_machine_type" {
  type        = string
  description = "Machine type of the broker VMs."
  default     = "e2-standard-2"
}

variable "broker_disk_gb" {
  type        = number
  description = "Size of each broker's boot disk (holds the Kafka log), in GB."
  default     = 100
  validation {
    condition     = var.broker_disk_gb >= 20 && var.broker_disk_gb <= 65536
    error_message = "broker_disk_gb must be 20..65536."
  }
}

variable "kafka_tarball_url" {
  type        = string
  description = "Kafka release tarball the brokers install (gs://BUCKET/OBJECT or https://...); the same Kafka version the tests run (scripts/kafka/pom.xml)."
  default     = "https://archive.apache.org/dist/kafka/4.4.0/kafka_2.13-4.4.0.tgz"
  validation {
    condition     = can(regex("^(gs|https)://.+\\.tgz$", var.kafka_tarball_url))
    error_message = "kafka_tarball_url must be a gs:// or https:// URL of a .tgz."
  }
}

variable "kafka_partitions" {
  type        = number
  description = "Partitions of each of the four event topics: the most pipeline VMs that can share the work (more partitions can be added later, never removed)."
  default     = 12
  validation {
    condition     = var.kafka_partitions >= 1 && var.kafka_partitions <= 1000
    error_message = "kafka_partitions must be 1..1000."
  }
}

variable "kafka_retention_hours" {
  type        = number
  description = "How long the brokers keep events, in hours: how long a stopped pipeline can catch up without loss."
  default     = 72
  validation {
    condition     = var.kafka_retention_hours >= 1
    error_message = "kafka_retention_hours must be at least 1."
  }
}

variable "pipeline_count" {
  type        = number
  description = "Pipeline VMs in the consumer group; each owns about kafka_partitions / pipeline_count partitions."
  default     = 1
  validation {
    condition     = var.pipeline_count >= 0 && var.pipeline_count <= 100
    error_message = "pipeline_count must be 0..100."
  }
}

variable "pipeline_machine_type" {
  type        = string
  description = "Machine type of the pipeline VMs (deploy/config/e2-standard-4.toml is tuned for e2-standard-4)."
  default     = "e2-standard-4"
}

variable "pipeline_memory_limit_mb" {
  type        = number
  description = "pipeline.memory_limit_mb written into each pipeline VM's config: leave a quarter of the VM's memory to the OS and the page cache."
  default     = 12288
  validation {
    condition     = var.pipeline_memory_limit_mb >= 256
    error_message = "pipeline_memory_limit_mb must be at least 256 (the program's minimum)."
  }
}

variable "simulator_enabled" {
  type        = bool
  description = "Create a load-generator VM running musicaly-simulate.service against the brokers."
  default     = false
}

variable "simulator_users" {
  type        = number
  description = "simulate.nusers of the load generator."
  default     = 100000
  validation {
    condition     = var.simulator_users >= 1
    error_message = "simulator_users must be at least 1."
  }
}

variable "serve_enabled" {
  type        = bool
  description = "Create the serve VM: the dashboard (musicaly-serve.service) and the loader of the warehouse (BigQuery through dbt)."
  default     = true
}

variable "dashboard_port" {
  type        = number
  description = "TCP port of the dashboard, /metrics and /api/live (web.listen) on the serve and pipeline VMs."
  default     = 9464
  validation {
    condition     = var.dashboard_port >= 1024 && var.dashboard_port <= 65535 && var.dashboard_port != 9092 && var.dashboard_port != 9093
    error_message = "dashboard_port must be 1024..65535 and not a Kafka port (9092, 9093)."
  }
}

variable "dashboard_cidrs" {
  type        = list(string)
  description = "Source ranges admitted to the dashboard port besides IAP TCP forwarding (35.235.240.0/20), e.g. an office VPN or a Prometheus server. Never 0.0.0.0/0."
  default     = []
  validation {
    condition     = alltrue([for c in var.dashboard_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "dashboard_cidrs must be IPv4 CIDRs and may not contain 0.0.0.0/0."
  }
}

variable "lake_prefix" {
  type        = string
  description = "Object prefix of the lake in the bucket (lake.path = gs://BUCKET/PREFIX); the pipeline may write under it only."
  default     = "lake"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.lake_prefix))
    error_message = "lake_prefix must be one path segment of lowercase letters, digits, hyphens and underscores."
  }
}

variable "lake_nearline_days" {
  type        = number
  description = "Lake objects move to NEARLINE storage after this many days (0 = never)."
  default     = 30
  validation {
    condition     = var.lake_nearline_days >= 0
    error_message = "lake_nearline_days must be 0 or more."
  }
}

variable "lake_retention_days" {
  type        = number
  description = "Lake objects are deleted after this many days (0 = kept forever). Must be later than lake_nearline_days."
  default     = 400
  validation {
    condition     = var.lake_retention_days >= 0
    error_message = "lake_retention_days must be 0 or more."
  }
}

variable "dead_letter_retention_days" {
  type        = number
  description = "Dead letters (PREFIX/_dead_letters/) and late events (PREFIX/_late/) are deleted after this many days."
  default     = 30
  validation {
    condition     = var.dead_letter_retention_days >= 1
    error_message = "dead_letter_retention_days must be at least 1."
  }
}

variable "bq_location" {
  type        = string
  description = "Location of the BigQuery datasets (US, EU or a region); the bucket should be in it for external tables."
  default     = "EU"
}

variable "bq_dataset" {
  type        = string
  description = "Dataset of the warehouse models (dbt's MUSICALY_BQ_DATASET)."
  default     = "musicaly"
  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", var.bq_dataset))
    error_message = "bq_dataset must be letters, digits and underscores."
  }
}

variable "bq_lake_dataset" {
  type        = string
  description = "Dataset of the external tables over the lake (dbt's MUSICALY_BQ_LAKE_DATASET, `musicaly bigquery --lake-dataset`)."
  default     = "musicaly_lake"
  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", var.bq_lake_dataset))
    error_message = "bq_lake_dataset must be letters, digits and underscores."
  }
}

variable "image" {
  type        = string
  description = "Boot image of every VM (Debian 12: the package targets it)."
  default     = "debian-cloud/debian-12"
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every VM, the bucket and the datasets."
  default     = {}
}
