# Removes a task registered by register-once-task.ps1 or
# register-service-task.ps1 (stopping it first: ingest ends its current
# step safely).
#
#   .\unregister-task.ps1 -TaskName ingest-once
param([Parameter(Mandatory = $true)] [string] $TaskName)
$ErrorActionPreference = "Stop"
Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
Write-Output "removed ${TaskName}"
