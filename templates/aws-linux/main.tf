terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = "~> 2.20"
    }
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# Template variables: set by the template admin at push time
# (`coder templates push --variable NAME=VALUE`), the same for every
# workspace of the template.

variable "ami_id" {
  type        = string
  default     = ""
  description = "AMI of the workspace VMs (x86-64 Ubuntu with cloud-init, e.g. a golden image). Empty: the newest Canonical Ubuntu 24.04 LTS of the region, looked up at each build."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the workspace VMs. Empty: the region's default VPC and subnet. Instances must reach coderd's access URL from there."
}

variable "security_group_ids" {
  type        = list(string)
  default     = []
  description = "Security groups of the workspace VMs. Empty: the VPC's default group. The agent only dials out: no inbound rule is needed."
}

variable "instance_profile" {
  type        = string
  default     = ""
  description = "IAM instance profile of the workspace VMs (what code in the workspace may do in AWS). Empty: none."
}

provider "coder" {}

data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "region" {
  name         = "region"
  display_name = "Region"
  description  = "AWS region of the workspace VM. Fixed once created: the VM and its disk live there."
  type         = "string"
  default      = "us-east-1"
  mutable      = false
  order        = 1
  option {
    name  = "US East (N. Virginia)"
    value = "us-east-1"
  }
  option {
    name  = "US West (Oregon)"
    value = "us-west-2"
  }
  option {
    name  = "Europe (Ireland)"
    value = "eu-west-1"
  }
  option {
    name  = "Europe (Frankfurt)"
    value = "eu-central-1"
  }
  option {
    name  = "Asia Pacific (Singapore)"
    value = "ap-southeast-1"
  }
  option {
    name  = "Asia Pacific (Tokyo)"
    value = "ap-northeast-1"
  }
}

data "coder_parameter" "instance_type" {
  name         = "instance_type"
  display_name = "Instance type"
  description  = "EC2 instance type (x86-64). Changing it restarts the VM."
  type         = "string"
  default      = "t3.medium"
  mutable      = true
  order        = 2
  option {
    name  = "2 vCPU, 2 GiB (t3.small)"
    value = "t3.small"
  }
  option {
    name  = "2 vCPU, 4 GiB (t3.medium)"
    value = "t3.medium"
  }
  option {
    name  = "2 vCPU, 8 GiB (t3.large)"
    value = "t3.large"
  }
  option {
    name  = "4 vCPU, 16 GiB (t3.xlarge)"
    value = "t3.xlarge"
  }
  option {
    name  = "8 vCPU, 32 GiB (t3.2xlarge)"
    value = "t3.2xlarge"
  }
}

data "coder_parameter" "disk_size" {
  name         = "disk_size"
  display_name = "Disk size"
  description  = "Root volume size in GiB (holds /home/coder). It can only grow."
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

provider "aws" {
  region = data.coder_parameter.region.value
}

# The newest Ubuntu 24.04 LTS image from Canonical, unless var.ami_id names
# one (then nothing is looked up).
data "aws_ami" "ubuntu" {
  count       = var.ami_id == "" ? 1 : 0
  most_recent = true
  owners      = ["099720109477"]
  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
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
  # The coder user, the agent's init script as a systemd service, rerun on
  # every boot (see cloud-init.tftpl).
  user_data = templatefile("${path.module}/cloud-init.tftpl", {
    hostname        = local.hostname
    init_script_b64 = base64encode(coder_agent.main.init_script)
    agent_token     = coder_agent.main.token
  })
}

# The VM lives as long as the workspace; stopping the workspace stops it
# (disk kept, no compute billed) and deleting the workspace terminates it.
resource "aws_instance" "workspace" {
  ami                    = var.ami_id != "" ? var.ami_id : data.aws_ami.ubuntu[0].id
  instance_type          = data.coder_parameter.instance_type.value
  user_data              = local.user_data
  subnet_id              = var.subnet_id != "" ? var.subnet_id : null
  vpc_security_group_ids = length(var.security_group_ids) > 0 ? var.security_group_ids : null
  iam_instance_profile   = var.instance_profile != "" ? var.instance_profile : null

  root_block_device {
    volume_size = data.coder_parameter.disk_size.value
    volume_type = "gp3"
  }

  metadata_options {
    http_tokens = "required"
  }

  tags = {
    Name                 = "coder-${data.coder_workspace_owner.me.name}-${data.coder_workspace.me.name}"
    "coder.owner"        = data.coder_workspace_owner.me.name
    "coder.owner_id"     = data.coder_workspace_owner.me.id
    "coder.workspace_id" = data.coder_workspace.me.id
  }

  # A newer AMI must not rebuild an existing workspace's machine.
  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_ec2_instance_state" "workspace" {
  instance_id = aws_instance.workspace.id
  state       = data.coder_workspace.me.transition == "start" ? "running" : "stopped"
}

resource "coder_metadata" "workspace" {
  count       = data.coder_workspace.me.start_count
  resource_id = aws_instance.workspace.id
  item {
    key   = "region"
    value = data.coder_parameter.region.value
  }
  item {
    key   = "instance type"
    value = aws_instance.workspace.instance_type
  }
  item {
    key   = "disk"
    value = "${aws_instance.workspace.root_block_device[0].volume_size} GiB"
  }
}
