terraform {
  required_providers {
    coder = {
      source = "coder/coder"
    }
  }
}

variable "agent_id" {
  type        = string
  description = "The ID of a Coder agent."
}

variable "port" {
  type        = number
  description = "The port to serve on."
  default     = 13339
}

variable "folder" {
  type        = string
  description = "The folder to serve."
  default     = "~"
}

resource "coder_script" "filebrowser" {
  agent_id     = var.agent_id
  display_name = "File Browser"
  icon         = "/icon/filebrowser.svg"
  run_on_start = true
  script       = <<-EOT
    busybox httpd -p 127.0.0.1:${var.port} -h ${var.folder}
    echo "serving ${var.folder} on port ${var.port}"
  EOT
}

resource "coder_app" "filebrowser" {
  agent_id     = var.agent_id
  slug         = "filebrowser"
  display_name = "File Browser"
  url          = "http://localhost:${var.port}"
  icon         = "/icon/filebrowser.svg"
  subdomain    = false
  share        = "owner"
  order        = 1

  healthcheck {
    url       = "http://localhost:${var.port}/"
    interval  = 5
    threshold = 6
  }
}
