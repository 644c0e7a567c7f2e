terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = "~> 2.20"
    }
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Google Cloud project to create workspace VMs in. The provisioner needs credentials for it (GOOGLE_APPLICATION_CREDENTIALS or the VM's service account)."
}

provider "coder" {}

data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "zone" {
  name         = "zone"
  display_name = "Zone"
  description  = "Google Cloud zone of the workspace VM. Fixed once created: the VM and its disk live there."
  type         = "string"
  default      = "us-central1-a"
  mutable      = false
  order        = 1
  option {
    name  = "Iowa (us-central1-a)"
    value = "us-central1-a"
  }
  option {
    name  = "Oregon (us-west1-b)"
    value = "us-west1-b"
  }
  option {
    name  = "South Carolina (us-east1-b)"
    value = "us-east1-b"
  }
  option {
    name  = "Belgium (europe-west1-b)"
    value = "europe-west1-b"
  }
  option {
    name  = "Frankfurt (europe-west3-a)"
    value = "europe-west3-a"
  }
  option {
    name  = "Singapore (asia-southeast1-a)"
    value = "asia-southeast1-a"
  }
}

data "coder_parameter" "machine_type" {
  name         = "machine_type"
  display_name = "Machine type"
  description  = "Compute Engine machine type (x86-64). Changing it restarts the VM."
  type         = "string"
  default      = "e2-standard-2"
  mutable      = true
  order        = 2
  option {
    name  = "2 vCPU, 4 GiB (e2-medium)"
    value = "e2-medium"
  }
  option {
    name  = "2 vCPU, 8 GiB (e2-standard-2)"
    value = "e2-standard-2"
  }
  option {
    name  = "4 vCPU, 16 GiB (e2-standard-4)"
    value = "e2-standard-4"
  }
  option {
    name  = "8 vCPU, 32 GiB (e2-standard-8)"
    value = "e2-standard-8"
  }
}

data "coder_parameter" "disk_size" {
  name         = "disk_size"
  display_name = "Disk size"
  description  = "Boot disk size in GiB (holds /home/coder). It can only grow."
  type         = "number"
  default      = "30"
  mutable      = true
  order        = 3
  validation {
    min       = 10
    max       = 1000
    monotonic = "increasing"
  }
}

provider "google" {
  project = var.project_id
  zone    = data.coder_parameter.zone.value
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
  dir  = "/home/coder"

  startup_script = <<-EOT
    set -e
    mkdir -p ~/.local/bin
  EOT

  env = {
    GIT_AUTHOR_NAME     = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_AUTHOR_EMAIL    = data.coder_workspace_owner.me.email
    GIT_COMMITTER_NAME  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_COMMITTER_EMAIL = data.coder_workspace_owner.me.email
  }
}

locals {
  hostname = lower(data.coder_workspace.me.name)
  # Ubuntu images run cloud-init from the user-data metadata key: it creates
  # the coder user and runs the agent's init script as a systemd service,
  # again on every boot (see cloud-init.tftpl).
  user_data = templatefile("${path.module}/cloud-init.tftpl", {
    hostname        = local.hostname
    init_script_b64 = base64encode(coder_agent.main.init_script)
    agent_token     = coder_agent.main.token
  })
  # GCE label values: lower-case letters, digits, '_' and '-', 63 at most.
  label_owner = substr(replace(lower(data.coder_workspace_owner.me.name), "/[^a-z0-9_-]/", "-"), 0, 63)
}

# The boot disk holds /home/coder. A disk of its own (rather than one the
# instance creates) can grow in place without rebuilding the VM.
resource "google_compute_disk" "root" {
  name  = "coder-${data.coder_workspace.me.id}-root"
  type  = "pd-balanced"
  image = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
  size  = data.coder_parameter.disk_size.value
  labels = {
    "coder-owner-id"     = data.coder_workspace_owner.me.id
    "coder-workspace-id" = data.coder_workspace.me.id
  }
  # A newer image must not rebuild an existing workspace's disk.
  lifecycle {
    ignore_changes = [image]
  }
}

# The VM lives as long as the workspace; stopping the workspace stops it
# (disk kept, no compute billed) and deleting the workspace deletes it.
resource "google_compute_instance" "workspace" {
  name           = "coder-${data.coder_workspace.me.id}"
  machine_type   = data.coder_parameter.machine_type.value
  desired_status = data.coder_workspace.me.transition == "start" ? "RUNNING" : "TERMINATED"

  # Stopping is needed to change the machine type.
  allow_stopping_for_update = true

  boot_disk {
    source      = google_compute_disk.root.name
    auto_delete = false
  }

  network_interface {
    network = "default"
    access_config {}
  }

  metadata = {
    user-data = local.user_data
  }

  labels = {
    "coder-owner-id"     = data.coder_workspace_owner.me.id
    "coder-workspace-id" = data.coder_workspace.me.id
    "coder-owner"        = local.label_owner
  }
}

resource "coder_metadata" "workspace" {
  count       = data.coder_workspace.me.start_count
  resource_id = google_compute_instance.workspace.id
  item {
    key   = "zone"
    value = data.coder_parameter.zone.value
  }
  item {
    key   = "machine type"
    value = google_compute_instance.workspace.machine_type
  }
}
