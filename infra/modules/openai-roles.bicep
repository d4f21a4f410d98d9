// Roles on the one Azure OpenAI account, deployed at the account's resource group (it may be an
// existing account in another resource group).
// - Cognitive Services OpenAI Contributor: files, fine-tuning jobs and inference (data plane).
// - A custom role with only Microsoft.CognitiveServices/accounts/deployments read/write/delete: the
//   ARM calls that create and prune deployments. The built-in Cognitive Services Contributor would also
//   work but grants Microsoft.CognitiveServices/* (including listKeys), far more than the app needs.
param accountName string
param principalId string

var openAiContributor = 'a001fd3d-188f-4b5d-821b-7da978bf7442'

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = {
  name: accountName
}

resource deploymentsOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, account.id, 'durable-finetune-deployments-operator')
  properties: {
    roleName: 'durable-finetune deployments operator (${accountName})'
    description: 'Create, read and delete model deployments of one Azure OpenAI account.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.CognitiveServices/accounts/read'
          'Microsoft.CognitiveServices/accounts/deployments/read'
          'Microsoft.CognitiveServices/accounts/deployments/write'
          'Microsoft.CognitiveServices/accounts/deployments/delete'
          // Preflight reads the account's model list (capabilities, retirement dates) before a run pays.
          'Microsoft.CognitiveServices/accounts/models/read'
        ]
        notActions: []
      }
    ]
  }
}

resource dataPlaneRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, openAiContributor)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiContributor)
  }
}

resource deploymentsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, deploymentsOperator.id)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: deploymentsOperator.id
  }
}

output endpoint string = account.properties.endpoint
