# Registers `ingest run` (follows [schedule] of the configuration) as a task
# that starts with Windows and keeps running, restarted if it fails.
#
#   .\register-service-task.ps1 -Folder C:\ingest
#   (run in an elevated PowerShell)
param(
    [Parameter(Mandatory = $true)] [string] $Folder,
    [string] $TaskName = "ingest-run",
    [string] $Config = "ingest.toml",
    [string] $User = "SYSTEM"
)
$ErrorActionPreference = "Stop"
$exe = Join-Path $Folder "ingest.exe"
if (-not (Test-Path $exe)) { throw "no ingest.exe in $Folder" }
$action = New-ScheduledTaskAction -Execute $exe `
    -Argument "--config `"$Config`" run" -WorkingDirectory $Folder
$trigger = New-ScheduledTaskTrigger -AtStartup
# No time limit; restarted every minute, up to 999 times, after a failure.
$settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew `
    -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 `
    -RestartInterval (New-TimeSpan -Minutes 1)
if ($User -eq "SYSTEM") {
    $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
} else {
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType S4U
}
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger `
    -Settings $settings -Principal $principal -Force | Out-Null
Start-ScheduledTask -TaskName $TaskName
Write-Output "registered and started ${TaskName}: ingest run in $Folder, at every start-up"
