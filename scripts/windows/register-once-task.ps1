# Registers `ingest run --once` as a Windows scheduled task that starts every
# N minutes, in the instance's folder, whether or not anyone is logged on,
# and never starts a second instance while one is running.
#
#   .\register-once-task.ps1 -Folder C:\ingest -Minutes 15
#   (run in an elevated PowerShell; -User defaults to SYSTEM)
param(
    [Parameter(Mandatory = $true)] [string] $Folder,
    [int] $Minutes = 15,
    [string] $TaskName = "ingest-once",
    [string] $Config = "ingest.toml",
    [string] $User = "SYSTEM"
)
$ErrorActionPreference = "Stop"
$exe = Join-Path $Folder "ingest.exe"
if (-not (Test-Path $exe)) { throw "no ingest.exe in $Folder" }
$action = New-ScheduledTaskAction -Execute $exe `
    -Argument "--config `"$Config`" run --once" -WorkingDirectory $Folder
$trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).Date `
    -RepetitionInterval (New-TimeSpan -Minutes $Minutes)
# IgnoreNew: "do not start a new instance" while one runs.
# No time limit: a first full extract of big tables may take many hours,
# and a task ended by a limit would start it again from scratch.
$settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew `
    -StartWhenAvailable -ExecutionTimeLimit ([TimeSpan]::Zero)
# SYSTEM (or a service account with S4U) runs whether or not anyone is logged on.
if ($User -eq "SYSTEM") {
    $principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
} else {
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType S4U
}
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger `
    -Settings $settings -Principal $principal -Force | Out-Null
Write-Output "registered ${TaskName}: ingest run --once every $Minutes minute(s) in $Folder"
