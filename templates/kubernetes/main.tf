terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = "~> 2.20"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 1.13"
    }
  }
}

variable "use_kubeconfig" {
  type        = bool
  description = "Use the provisioner's kubeconfig to reach the cluster (KUBECONFIG in the provisioner's environment, else ~/.kube/config). False: the provisioner runs inside the cluster and uses its service account."
  default     = false
}

# config_path is left unset on purpose: the provider then reads KUBECONFIG
# (or KUBE_CONFIG) from the provisioner's environment, and ~/.kube/config
# without it.
provider "kubernetes" {
  load_config_file = var.use_kubeconfig
}

provider "coder" {}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "namespace" {
  name         = "namespace"
  display_name = "Namespace"
  description  = "Kubernetes namespace for the workspace (it must exist). Fixed once the workspace is created: its home volume lives there."
  type         = "string"
  default      = "coder"
  mutable      = false
  order        = 1
  validation {
    regex = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
    error = "A namespace is a DNS label: lower-case letters, digits and '-'."
  }
}

data "coder_parameter" "image" {
  name         = "image"
  display_name = "Image"
  description  = "Container image. It needs sh, curl or wget and CA certificates, and runs as uid 1000 with its home at /home/coder."
  type         = "string"
  default      = "coder-workspace:latest"
  mutable      = true
  order        = 2
}

data "coder_parameter" "cpu" {
  name         = "cpu"
  display_name = "CPU"
  description  = "CPU cores (limit; half is requested)."
  type         = "number"
  default      = "2"
  mutable      = true
  order        = 3
  option {
    name  = "2 cores"
    value = "2"
  }
  option {
    name  = "4 cores"
    value = "4"
  }
  option {
    name  = "8 cores"
    value = "8"
  }
}

data "coder_parameter" "memory" {
  name         = "memory"
  display_name = "Memory"
  description  = "Memory in GiB (limit; half is requested)."
  type         = "number"
  default      = "4"
  mutable      = true
  order        = 4
  validation {
    min = 1
    max = 64
  }
}

data "coder_parameter" "home_disk_size" {
  name         = "home_disk_size"
  display_name = "Home disk size"
  description  = "Size of /home/coder in GiB. It can only grow."
  type         = "number"
  default      = "10"
  mutable      = true
  order        = 5
  validation {
    min       = 1
    max       = 500
    monotonic = "increasing"
  }
}

locals {
  namespace = data.coder_parameter.namespace.value
  name      = lower("coder-${data.coder_workspace_owner.me.name}-${data.coder_workspace.me.name}")
  labels = {
    "app.kubernetes.io/name"     = "coder-workspace"
    "app.kubernetes.io/instance" = "coder-workspace-${data.coder_workspace.me.id}"
    "app.kubernetes.io/part-of"  = "coder"
    "coder.workspace_id"         = data.coder_workspace.me.id
    "coder.owner_id"             = data.coder_workspace_owner.me.id
  }
  # Label values are limited to 63 characters of [A-Za-z0-9_.-]: names go
  # in annotations.
  annotations = {
    "coder.owner"          = data.coder_workspace_owner.me.name
    "coder.workspace_name" = data.coder_workspace.me.name
  }
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = data.coder_provisioner.me.arch
  dir  = "/home/coder"

  startup_script = <<-EOT
    set -e
    if [ ! -f ~/.profile ]; then
      printf '%s\n' 'export PATH="$HOME/.local/bin:$PATH"' > ~/.profile
    fi
    mkdir -p ~/.local/bin
  EOT

  env = {
    GIT_AUTHOR_NAME     = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_AUTHOR_EMAIL    = data.coder_workspace_owner.me.email
    GIT_COMMITTER_NAME  = coalesce(data.coder_workspace_owner.me.full_name, data.coder_workspace_owner.me.name)
    GIT_COMMITTER_EMAIL = data.coder_workspace_owner.me.email
  }
}

# The home directory: kept while the workspace is stopped, deleted with it.
resource "kubernetes_persistent_volume_claim" "home" {
  metadata {
    name        = "coder-${data.coder_workspace.me.id}-home"
    namespace   = local.namespace
    labels      = local.labels
    annotations = local.annotations
  }
  wait_until_bound = false
  spec {
    access_modes = ["ReadWriteOnce"]
    resources {
      requests = {
        storage = "${data.coder_parameter.home_disk_size.value}Gi"
      }
    }
  }
  # Renaming the owner or the workspace must not replace the volume.
  lifecycle {
    ignore_changes = [metadata[0].labels, metadata[0].annotations]
  }
}

resource "kubernetes_deployment" "workspace" {
  count            = data.coder_workspace.me.start_count
  wait_for_rollout = false

  metadata {
    name        = local.name
    namespace   = local.namespace
    labels      = local.labels
    annotations = local.annotations
  }

  spec {
    replicas = 1
    selector {
      match_labels = {
        "app.kubernetes.io/instance" = local.labels["app.kubernetes.io/instance"]
      }
    }
    # Never two pods on one ReadWriteOnce volume.
    strategy {
      type = "Recreate"
    }

    template {
      metadata {
        labels      = local.labels
        annotations = local.annotations
      }
      spec {
        hostname = lower(data.coder_workspace.me.name)
        security_context {
          run_as_user  = 1000
          run_as_group = 1000
          fs_group     = 1000
        }

        container {
          name              = "dev"
          image             = data.coder_parameter.image.value
          image_pull_policy = "IfNotPresent"
          # The agent's init script downloads the agent from coderd (which
          # must be reachable from pods at its access URL) and runs it.
          command = ["sh", "-c", coder_agent.main.init_script]
          env {
            name  = "CODER_AGENT_TOKEN"
            value = coder_agent.main.token
          }
          resources {
            requests {
              cpu    = data.coder_parameter.cpu.value / 2
              memory = "${data.coder_parameter.memory.value * 512}Mi"
            }
            limits {
              cpu    = data.coder_parameter.cpu.value
              memory = "${data.coder_parameter.memory.value}Gi"
            }
          }
          volume_mount {
            name       = "home"
            mount_path = "/home/coder"
          }
        }

        volume {
          name = "home"
          persistent_volume_claim {
            claim_name = kubernetes_persistent_volume_claim.home.metadata[0].name
          }
        }
      }
    }
  }
}
