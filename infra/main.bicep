// durable-finetune: everything the Function App needs, deployable with `azd up`.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('azd environment name; names and tags derive from it.')
param environmentName string

@description('Region for every resource created here.')
param location string = resourceGroup().location

@description('true: create an Azure OpenAI account here; false: use an existing one (name + resource group).')
param createOpenAi bool = true

@description('Name of the Azure OpenAI account to create or to use.')
param openAiAccountName string = ''

@description('Resource group of an existing Azure OpenAI account (defaults to this one).')
param openAiResourceGroupName string = ''

@description('Region of a new Azure OpenAI account (fine-tuning is offered in a few regions).')
param openAiLocation string = 'northcentralus'

@description('true: a new account is a Foundry resource (kind AIServices), which open-model fine-tuning (gpt-oss-20b, ...) requires, and the app trains gpt-oss-20b by default. An existing kind OpenAI account cannot: docs/deploy.md.')
param openModels bool = false

@description('The model the app fine-tunes (BASE_MODEL); empty: gpt-4.1-mini-2025-04-14, or gpt-oss-20b-11 with openModels (docs/models.md says which applies to whom).')
param baseModel string = ''

// The base deployment serves the first rollouts. gpt-4.1-mini's own stopped serving on 2026-10-14 (it can
// no longer be deployed), so it is a current model the app distils from: a teacher (docs/models.md).
@description('ARM name and version of the model the base deployment serves (a teacher such as gpt-5.1).')
param baseModelName string = 'gpt-5.1'
param baseModelVersion string = '2025-11-13'
param baseDeploymentName string = 'gpt-5.1'
param baseDeploymentCapacity int = 50

@description('NCRONTAB schedule for retraining, e.g. "0 0 3 * * 0"; empty disables the timer.')
param retrainSchedule string = ''

param artifactsContainerName string = 'finetune'
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

@description('Durable Functions backend. DurableTaskScheduler also needs host.json switched: the azd package hooks do it (infra/hooks/durable_backend.py).')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('Durable Task Scheduler SKU: Consumption (pay per action) or Dedicated (capacity units).')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableTaskSchedulerSku string = 'Consumption'

@description('Durable Task Scheduler capacity units (Dedicated only).')
@minValue(1)
@maxValue(3)
param durableTaskSchedulerCapacity int = 1

@description('Client ID of an Entra ID app registration: set it to require Entra ID sign-in for browsers (App Service Authentication). Empty (default): off, every route needs a function key.')
@maxLength(36)
param entraSignInClientId string = ''

@description('Paths machines call with a function key; they skip Entra ID sign-in and still need the key. Everything else (the dashboard pages) asks browsers to sign in.')
param signInExcludedPaths array = [
  '/api/v1/traces'
  '/api/feedback'
  '/api/runs'
  '/api/runs/*'
  '/runtime/webhooks/durabletask/*'
]

@description('Addresses allowed to reach the Durable Task Scheduler; Flex Consumption without a VNet has no fixed outbound addresses, and every call needs an Entra ID token with a role on the task hub.')
param durableTaskSchedulerIpAllowlist array = [
  '0.0.0.0/0'
]

var trainedModel = !empty(baseModel) ? baseModel : (openModels ? 'gpt-oss-20b-11' : 'gpt-4.1-mini-2025-04-14')
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var openAiName = empty(openAiAccountName) ? 'aoai-${token}' : openAiAccountName
var openAiGroup = empty(openAiResourceGroupName) ? resourceGroup().name : openAiResourceGroupName
var deploymentContainerName = 'app-package-${take(token, 8)}'
var useDurableTaskScheduler = durableBackend == 'DurableTaskScheduler'
// One source for the task hub name: the scheduler's task hub must be the hub host.json names.
var taskHubName = loadJsonContent('../host.json', '$.extensions.durableTask.hubName')
var signIn = !empty(entraSignInClientId)

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    artifactsContainerName: artifactsContainerName
  }
}

module storageRoles 'modules/storage-roles.bicep' = {
  name: 'storage-roles'
  params: {
    storageAccountName: storage.outputs.name
    principalId: identity.outputs.principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module openAi 'modules/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  params: {
    name: openAiName
    location: openAiLocation
    tags: tags
    kind: openModels ? 'AIServices' : 'OpenAI'
    baseModel: baseModelName
    baseModelVersion: baseModelVersion
    baseDeploymentName: baseDeploymentName
    baseDeploymentCapacity: baseDeploymentCapacity
  }
}

module openAiRoles 'modules/openai-roles.bicep' = {
  name: 'openai-roles'
  scope: resourceGroup(openAiGroup)
  dependsOn: [
    openAi
  ]
  params: {
    accountName: openAiName
    principalId: identity.outputs.principalId
  }
}

// The identity App Service Authentication presents to Entra ID instead of a client secret. Microsoft
// advises one used for nothing else: whoever holds it can act as the app registration.
module signInIdentity 'modules/identity.bicep' = if (signIn) {
  name: 'sign-in-identity'
  params: {
    name: 'id-signin-${token}'
    location: location
    tags: tags
  }
}

module durableTaskScheduler 'modules/durable-task-scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-task-scheduler'
  params: {
    name: 'dts-${token}'
    location: location
    tags: tags
    taskHubName: taskHubName
    principalId: identity.outputs.principalId
    skuName: durableTaskSchedulerSku
    capacity: durableTaskSchedulerCapacity
    ipAllowlist: durableTaskSchedulerIpAllowlist
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.name
    openAiEndpoint: openAiRoles.outputs.endpoint
    openAiAccountName: openAiName
    openAiResourceGroup: openAiGroup
    artifactsContainerName: artifactsContainerName
    baseModel: trainedModel
    baseDeploymentName: baseDeploymentName
    retrainSchedule: retrainSchedule
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTaskScheduler!.outputs.endpoint : ''
    signInClientId: entraSignInClientId
    signInIdentityId: signIn ? signInIdentity!.outputs.id : ''
    signInIdentityClientId: signIn ? signInIdentity!.outputs.clientId : ''
    signInExcludedPaths: signInExcludedPaths
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_OPENAI_ACCOUNT string = openAiName
output AZURE_OPENAI_RESOURCE_GROUP string = openAiGroup
output ARTIFACTS_STORAGE_ACCOUNT string = storage.outputs.name
// For the app registration (docs/deploy.md): its redirect URI, and the subject of its federated credential.
output SIGN_IN_REDIRECT_URI string = 'https://${functionApp.outputs.defaultHostName}/.auth/login/aad/callback'
output SIGN_IN_IDENTITY_PRINCIPAL_ID string = signIn ? signInIdentity!.outputs.principalId : ''
// Read by the azd package hooks to give host.json the matching storage provider.
output DURABLE_BACKEND string = durableBackend
