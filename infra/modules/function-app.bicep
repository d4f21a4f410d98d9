// The Function App on the Flex Consumption plan (Python 3.11). Every app setting is wired from other
// modules' outputs; none carries a key: storage, Azure OpenAI, ARM and Application Insights are all
// reached with the user-assigned identity.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param openAiEndpoint string
param openAiAccountName string
param openAiResourceGroup string
param artifactsContainerName string
param baseModel string
param baseDeploymentName string
param retrainSchedule string
param maximumInstanceCount int
param instanceMemoryMB int

@description('Durable Task Scheduler endpoint; empty keeps the Azure Storage backend.')
param durableTaskSchedulerEndpoint string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) plans are serverless; zone redundancy is not a plan setting this template can turn on
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

var baseSettings = [
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
  { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'AZURE_OPENAI_ENDPOINT', value: openAiEndpoint }
  { name: 'AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  { name: 'AZURE_RESOURCE_GROUP', value: openAiResourceGroup }
  { name: 'AZURE_OPENAI_ACCOUNT', value: openAiAccountName }
  { name: 'ARTIFACTS_BLOB_ENDPOINT', value: storage.properties.primaryEndpoints.blob }
  { name: 'ARTIFACTS_CONTAINER', value: artifactsContainerName }
  { name: 'BASE_MODEL', value: baseModel }
  { name: 'BASE_DEPLOYMENT', value: baseDeploymentName }
  { name: 'PYTHON_THREADPOOL_THREAD_COUNT', value: '16' }
]

// The timer trigger is registered only when RETRAIN_SCHEDULE is set, so it is left out when empty.
var scheduleSettings = empty(retrainSchedule) ? [] : [{ name: 'RETRAIN_SCHEDULE', value: retrainSchedule }]

// Identity-based connection to the Durable Task Scheduler, named by host.json's
// storageProvider.connectionStringName when the azureManaged provider is selected. It holds the
// endpoint and which identity to use, no secret.
var durableConnection = 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
var durableSettings = empty(durableTaskSchedulerEndpoint) ? [] : [{ name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING', value: durableConnection }]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:The HTTP API (POST /api/runs) must be reachable by its callers; every route needs a function key
  // checkov:skip=CKV_AZURE_17:Callers authenticate with function keys; requiring client certificates would lock out the documented curl/azd usage
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on demand; always-ready instances would bill around the clock for a job that runs a few times a week
  // checkov:skip=CKV_AZURE_213:Flex Consumption function apps do not use the App Service health-check path; the Functions host monitors its own workers
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: concat(baseSettings, scheduleSettings, durableSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
