terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = "~> 2.20"
    }
    docker = {
      source  = "kreuzwerker/docker"
      version = "~> 4.6"
    }
  }
}

variable "docker_image" {
  type        = string
  description = "Image of the workspace container. The default is built locally by `make workspace-image`; any image with sh, curl or wget and CA certificates works."
  default     = "coder-workspace:latest"
}

variable "docker_host" {
  type        = string
  description = "Docker daemon to create workspaces on, e.g. unix:///var/run/docker.sock or ssh://user@host. Empty: DOCKER_HOST or the local socket."
  default     = ""
}

provider "docker" {
  host = var.docker_host != "" ? var.docker_host : null
}

provider "coder" {}

data "coder_provisioner" "me" {}
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

locals {
  username = data.coder_workspace_owner.me.name
  # The host part of the access URL, without port or brackets.
  access_host = lower(regex("^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?(\\[[^]]*\\]|[^:/]*)", data.coder_workspace.me.access_url)[0])
  # A loopback access URL (the default for local use) is only reachable from
  # the host's own network namespace, so the container joins it. Otherwise
  # the container gets its own network and reaches a coderd that runs on the
  # Docker host as host.docker.internal.
  loopback    = local.access_host == "localhost" || startswith(local.access_host, "127.") || local.access_host == "[::1]"
  init_script = local.loopback ? coder_agent.main.init_script : replace(coder_agent.main.init_script, "/localhost|127\\.0\\.0\\.1/", "host.docker.internal")
  container   = "coder-${local.username}-${lower(data.coder_workspace.me.name)}"
  # The port of the workspace's web app. With a loopback access URL the
  # container shares the host's network, so each workspace gets its own
  # port (derived from its ID) rather than one fixed port they would fight
  # over.
  app_port = 20000 + parseint(substr(md5(data.coder_workspace.me.id), 0, 4), 16) % 10000
  # Jupyter's port, chosen the same way, 10000 above.
  jupyter_port = local.app_port + 10000
}

resource "coder_agent" "main" {
  os   = "linux"
  arch = data.coder_provisioner.me.arch
  dir  = "/home/coder"

  startup_script = <<-EOT
    set -e
    # First start on a new home volume (the volume hides the image's
    # /home/coder): the shell dotfiles from /etc/skel, once, so that a
    # deleted ~/.bashrc stays deleted. Debian's ~/.profile puts
    # ~/.local/bin on PATH.
    if [ ! -e ~/.skel_copied ]; then
      if [ -d /etc/skel ]; then cp -a /etc/skel/. ~/; fi
      touch ~/.skel_copied
    fi
    mkdir -p ~/.local/bin
    # The "Files" app: a static web server over ~/www (busybox httpd, which
    # the workspace image has). Replace it with your editor or notebook.
    mkdir -p ~/www
    if [ ! -f ~/www/index.html ]; then
      printf '<!doctype html><title>%s</title><h1>Hello from %s</h1><p>Served from ~/www by busybox httpd.</p>\n' \
        "${data.coder_workspace.me.name}" "${data.coder_workspace.me.name}" > ~/www/index.html
    fi
    busybox httpd -p 127.0.0.1:${local.app_port} -h ~/www
    echo "workspace ${data.coder_workspace.me.name} is ready"
  EOT

  # Commits made in the workspace carry the owner's identity.
  env = {
    GIT_AUTHOR_NAME     = coalesce(data.coder_workspace_owner.me.full_name, local.username)
    GIT_AUTHOR_EMAIL    = data.coder_workspace_owner.me.email
    GIT_COMMITTER_NAME  = coalesce(data.coder_workspace_owner.me.full_name, local.username)
    GIT_COMMITTER_EMAIL = data.coder_workspace_owner.me.email
  }
}

# A web app in the workspace, opened from the dashboard through coderd
# (at /@owner/workspace.main/apps/files/, or on its own subdomain when the
# server has --wildcard-access-url).
resource "coder_app" "files" {
  agent_id     = coder_agent.main.id
  slug         = "files"
  display_name = "Files"
  url          = "http://localhost:${local.app_port}/"
  share        = "owner"
  subdomain    = true

  # The agent probes the app and the dashboard shows its health: healthy
  # after the first answer, unhealthy after 30 s without one.
  healthcheck {
    url       = "http://127.0.0.1:${local.app_port}/"
    interval  = 5
    threshold = 6
  }
}

# Jupyter Notebook (Debian's jupyter-notebook, in the workspace image),
# started in the background on every start. Bound to 127.0.0.1 without a
# token: only the agent reaches it, and coderd's app proxy authenticates
# whoever opens the app. allow_remote_access: the proxy keeps the browser's
# Host header (the app's subdomain), which Jupyter otherwise refuses.
resource "coder_script" "jupyter" {
  agent_id     = coder_agent.main.id
  display_name = "Jupyter"
  run_on_start = true
  script       = <<-EOT
    if ! command -v jupyter-notebook >/dev/null 2>&1; then
      echo "this image has no jupyter-notebook: the Jupyter app stays unhealthy"
      exit 0
    fi
    cd ~
    nohup jupyter-notebook --no-browser --ip=127.0.0.1 --port=${local.jupyter_port} \
      --NotebookApp.token='' --NotebookApp.password='' --NotebookApp.base_url=/ \
      --NotebookApp.allow_remote_access=True --notebook-dir="$HOME" \
      </dev/null >/tmp/jupyter.log 2>&1 &
    echo "Jupyter Notebook starting on 127.0.0.1:${local.jupyter_port} (log: /tmp/jupyter.log)"
  EOT
}

resource "coder_app" "jupyter" {
  agent_id     = coder_agent.main.id
  slug         = "jupyter"
  display_name = "Jupyter"
  url          = "http://localhost:${local.jupyter_port}/"
  share        = "owner"
  subdomain    = true

  # /api answers without a token once the server is up.
  healthcheck {
    url       = "http://127.0.0.1:${local.jupyter_port}/api"
    interval  = 5
    threshold = 12
  }
}

# The home directory outlives stop/start (the container is deleted on stop)
# and goes away with the workspace.
resource "docker_volume" "home" {
  name = "coder-${data.coder_workspace.me.id}-home"
  # Any change here (the name, or a label after the owner is renamed) would
  # replace the volume and lose the home directory: never update it.
  lifecycle {
    ignore_changes = all
  }
  labels {
    label = "coder.owner"
    value = local.username
  }
  labels {
    label = "coder.owner_id"
    value = data.coder_workspace_owner.me.id
  }
  labels {
    label = "coder.workspace_id"
    value = data.coder_workspace.me.id
  }
  labels {
    label = "coder.workspace_name"
    value = data.coder_workspace.me.name
  }
}

resource "docker_container" "workspace" {
  count    = data.coder_workspace.me.start_count
  image    = var.docker_image
  name     = local.container
  hostname = data.coder_workspace.me.name

  # The agent's init script downloads the agent from coderd and runs it.
  entrypoint = ["sh", "-c", local.init_script]
  env        = ["CODER_AGENT_TOKEN=${coder_agent.main.token}"]

  # On stop and delete Terraform destroys the container: Docker sends the
  # agent (the container's main process) SIGTERM and kills it after this
  # many seconds. The agent uses them to run the stop scripts (a
  # shutdown_script, coder_script with run_on_stop; at most 5 minutes) and
  # report how they ended, then exits at once. Without this the provider
  # kills the container without any grace and stop scripts never run.
  destroy_grace_seconds = 330

  network_mode = local.loopback ? "host" : "bridge"
  dynamic "host" {
    for_each = local.loopback ? [] : [1]
    content {
      host = "host.docker.internal"
      ip   = "host-gateway"
    }
  }

  volumes {
    container_path = "/home/coder"
    volume_name    = docker_volume.home.name
    read_only      = false
  }

  labels {
    label = "coder.owner"
    value = local.username
  }
  labels {
    label = "coder.owner_id"
    value = data.coder_workspace_owner.me.id
  }
  labels {
    label = "coder.workspace_id"
    value = data.coder_workspace.me.id
  }
  labels {
    label = "coder.workspace_name"
    value = data.coder_workspace.me.name
  }
}
