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

@description('Client ID of the Entra app registration browsers sign in with; empty leaves App Service Authentication off.')
param signInClientId string = ''

@description('Entra tenant of that app registration.')
param signInTenantId string = tenant().tenantId

@description('Resource ID and client ID of the identity that replaces a client secret (federated credential on the app registration).')
param signInIdentityId string = ''
param signInIdentityClientId string = ''

@description('Paths machines call with a function key; they skip sign-in (the function key still applies).')
param signInExcludedPaths array = []

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

// App Service Authentication (Entra ID sign-in), on when a client ID is given. The app registration
// trusts a managed identity through a federated credential, and App Service Authentication presents
// that identity's token instead of a client secret: the secret-setting name below is the documented
// switch for it, and the setting holds the identity's client ID, not a secret.
var signIn = !empty(signInClientId)
var signInAssertionSetting = 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
var signInSettings = signIn ? [{ name: signInAssertionSetting, value: signInIdentityClientId }] : []
var identities = signIn ? { '${identityId}': {}, '${signInIdentityId}': {} } : { '${identityId}': {} }

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
    userAssignedIdentities: identities
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
      appSettings: concat(baseSettings, scheduleSettings, durableSettings, signInSettings)
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

// Browsers are sent to Entra ID sign-in; the excluded paths (machine callers with a function key)
// pass straight to the Functions host, which still checks the key. Signed-in requests also still
// need a key on routes whose auth level is FUNCTION: sign-in adds to the key, it does not replace it.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (signIn) {
  // checkov:skip=CKV_AZURE_13:This resource is App Service Authentication itself (authsettingsV2, platform.enabled true); the check only reads the retired V1 authsettings field properties.enabled
  // checkov:skip=CKV_AZURE_63:checkov reads properties.httpLoggingEnabled of the site's web config on every sites/config resource; authsettingsV2 has no such property
  // checkov:skip=CKV_AZURE_65:checkov reads properties.detailedErrorLoggingEnabled of the site's web config on every sites/config resource; authsettingsV2 has no such property
  // checkov:skip=CKV_AZURE_66:checkov reads properties.requestTracingEnabled of the site's web config on every sites/config resource; authsettingsV2 has no such property
  // checkov:skip=CKV_AZURE_80:checkov reads properties.netFrameworkVersion of the site's web config on every sites/config resource; this is a Python app and authsettingsV2 has no such property
  // checkov:skip=CKV_AZURE_88:checkov looks for Azure Files mounts on every sites/config resource; authsettingsV2 has none and Flex Consumption apps mount no Azure Files share
  // checkov:skip=CKV_AZURE_222:publicNetworkAccess is a property of the site (skipped there with its reason), not of authsettingsV2
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: signInExcludedPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          openIdIssuer: 'https://login.microsoftonline.com/${signInTenantId}/v2.0'
          clientId: signInClientId
          clientSecretSettingName: signInAssertionSetting
        }
        validation: {
          allowedAudiences: [
            signInClientId
            'api://${signInClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
