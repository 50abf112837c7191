"""The core every stage stands on: parameters, errors, the logger and resumable work, devices, geometry."""
