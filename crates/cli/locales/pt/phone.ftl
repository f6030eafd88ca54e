## A tela do celular, como quem está pagando por ele a lê.
## Frases curtas e simples.

page-title = Seu celular
language-label = Idioma
language-submit = Mudar
imei-label = IMEI
refresh = Atualizar status
refresh-done = Status atualizado.
refresh-failed = Sem conexão com a financeira. Verifique sua internet e tente de novo.

## A tela normal

active-heading = Seu celular está funcionando normalmente
active-body = Nada está bloqueado.
active-on-code = Desbloqueado com um código até { $date }.
banner-due-reminder = Lembrete de pagamento
banner-overdue-reminder = Pagamento atrasado
banner-lock-notice = Aviso de bloqueio
banner-second-lock-notice = Último aviso de bloqueio
banner-notice = Mensagem de { $lender }
payment-banner = Você tem um pagamento pendente. Seu celular continua funcionando normalmente.
offline-warning = Sem conexão. Este celular será bloqueado em { $date }, a menos que se conecte à internet ou você digite um código do seu comprovante de pagamento.

## A tela de bloqueio

locked-heading = Este celular está bloqueado
locked-by-lender = { $lender } bloqueou este celular.
locked-expired = Este celular ficou tempo demais sem falar com { $lender } e foi bloqueado.
locked-no-lease-heading = Este celular ainda não foi ativado
locked-no-lease = Conecte-o à internet para terminar a configuração.
amount-due = Valor a pagar
how-to-pay = Como pagar
pay-online = Pague pela internet ou peça ajuda
call-lender = Ligar para { $lender }
emergency-call = Chamada de emergência
emergency-note = Chamadas de emergência sempre funcionam, mesmo com o celular bloqueado.
code-heading = Código de desbloqueio
code-label = Digite o código do seu comprovante de pagamento
code-submit = Desbloquear
paid-heading = Já pagou?
paid-label = Número do comprovante ou uma nota curta
paid-submit = Já paguei
paid-note = { $lender } vai verificar seu pagamento. Enquanto isso, o celular não será bloqueado automaticamente.

## O que um formulário fez

code-accepted = Código aceito. Seu celular funciona até { $date }.
code-wrong =
    Este código não vale para este celular. Tente de novo em { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.
code-wait =
    Muitos códigos errados. Tente de novo em { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.
code-typo = O código tem um erro de digitação. Confira os números e digite de novo.
code-length = Um código de desbloqueio tem { $digits } números. Confira e digite de novo.
code-characters = O código tem apenas números.
code-used = Este código já foi usado.
code-invalid = Este código não funciona neste celular.
code-expired = Este código venceu em { $date }. Peça um novo.
code-not-enrolled = Este celular ainda não se conectou. Conecte-o uma vez e depois digite o código.
code-released = Este celular já está quitado. Não precisa de código.
code-not-stored = Não foi possível salvar o código. Digite de novo, por favor.
code-empty = Digite um código primeiro.
dispute-opened = Obrigado. { $lender } vai verificar seu pagamento. Seu número de referência: { $reference }
dispute-failed = Não foi possível enviar. Verifique sua internet e tente de novo.
dispute-empty = Escreva primeiro o número do comprovante ou uma nota curta.

## A tela de um celular quitado

free-heading = Este celular é seu
free-body = Está totalmente pago. Nunca mais será bloqueado.
