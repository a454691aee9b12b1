# Removes a task registered by register-once-task.ps1 or
# register-service-task.ps1, stopping it first. Stop-ScheduledTask ends the
# process at once; that is safe (every step of ingest is crash-safe, and the
# next run resumes), but an unfinished batch is read again.
#
#   .\unregister-task.ps1 -TaskName ingest-once
param([Parameter(Mandatory = $true)] [string] $TaskName)
$ErrorActionPreference = "Stop"
Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
Write-Output "removed ${TaskName}"
